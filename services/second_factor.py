"""The staff's second factor: a code from an authenticator application (TOTP, RFC 6238), or a single-use recovery code."""
import datetime as dt
import hashlib
import io
import secrets

import pyotp
import qrcode
import qrcode.image.svg

from models import Staff, db
from models import clock
from services import audit

ISSUER = "Hub Pro Transport"
RECOVERY_CODES = 10
#: Codes of the step before and after the current one are accepted too (clocks drift by a few seconds).
DRIFT_STEPS = 1


def new_secret():
    """Return a new TOTP secret (base32) for an authenticator application."""
    return pyotp.random_base32()


def enrolment_uri(email, secret):
    """Return the otpauth:// address an authenticator application reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_code_svg(uri):
    """Return the QR code of this address as an SVG document (drawn inline: no image request, no script)."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode()


def _step_of(secret, code):
    """Return the time step whose code this is, or None when it matches none of the accepted steps."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(clock.now().replace(tzinfo=dt.timezone.utc))
    for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        step = current + offset
        if secrets.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            return step
    return None


def _clean(code):
    return "".join(ch for ch in (code or "") if ch.isalnum()).lower()[:32]


def _digest(code):
    return hashlib.sha256(_clean(code).encode()).hexdigest()


def enrol(member, secret, code):
    """Enrol this member's authenticator if the code matches the secret; return the new recovery codes, or None."""
    code = _clean(code)
    step = _step_of(secret, code) if code.isdigit() else None
    if step is None:
        return None
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    with db.atomic():
        Staff.update(
            totp_secret=secret, totp_enrolled_at=clock.now(), totp_last_step=step,
            recovery_codes="\n".join(_digest(c) for c in codes),
        ).where(Staff.id == member.id).execute()
        audit.record("Double authentification activée", member.email, staff=member)
    return codes


def check(member, code):
    """Accept a code from the member's application (each one once) or one of its unused recovery codes."""
    code = _clean(code)
    if not member.totp_secret or not code:
        return False
    if code.isdigit():
        step = _step_of(member.totp_secret, code)
        # The update only succeeds for a step later than the last one accepted: a code seen once is spent.
        return step is not None and Staff.update(totp_last_step=step).where(
            Staff.id == member.id, Staff.totp_last_step < step
        ).execute() == 1
    hashes = member.recovery_codes.split("\n") if member.recovery_codes else []
    digest = _digest(code)
    if digest not in hashes:
        return False
    left = "\n".join(h for h in hashes if h != digest)
    used = Staff.update(recovery_codes=left).where(
        Staff.id == member.id, Staff.recovery_codes == member.recovery_codes
    ).execute() == 1
    if used:
        audit.record("Code de secours utilisé", member.email, f"{len(hashes) - 1} code(s) restant(s)", staff=member)
    return used


def recovery_codes_left(member):
    """How many unused recovery codes this member still has."""
    return len(member.recovery_codes.split("\n")) if member.recovery_codes else 0
