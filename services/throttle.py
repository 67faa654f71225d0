"""Failed logins counted per account in the database (shared by every web process); a lock with an unlock e-mail.

A lock is per account, never per address: guessing passwords for unknown addresses locks nobody else out.
Limits per address are Flask-Limiter's (services/limits.py).
"""
import hashlib
import time

from flask import current_app
from peewee import IntegrityError

from models import Throttle, TokenPurpose, db, normalize_email
from models import clock, deadlines
from services import outbox, tokens


def key_for(email, staff=False):
    """Return the key failed logins for this typed address are counted under (a known account or not).

    An address too long for the key column (a varchar(255) on PostgreSQL) is counted under its SHA-256 digest.
    """
    prefix = "staff-login:" if staff else "login:"
    address = normalize_email(email)
    if len(prefix) + len(address) > Throttle.key.max_length:
        address = hashlib.sha256(address.encode()).hexdigest()
    return prefix + address


def login_key(account):
    """Return the key of this account's failed logins."""
    return key_for(account.email, staff=account.is_staff)


def _row(key):
    row = Throttle.get_or_none(Throttle.key == key)
    if row is None:
        try:
            with db.atomic():
                row = Throttle.create(key=key, failures=0, window_start=clock.now())
        except IntegrityError:
            row = Throttle.get(Throttle.key == key)
    return row


def locked_for(key):
    """Return the seconds left on this key's lock, or 0 when it is not locked."""
    row = Throttle.get_or_none(Throttle.key == key)
    if row is None or row.locked_until is None:
        return 0
    left = (row.locked_until - clock.now()).total_seconds()
    return max(0, int(left) + 1) if left > 0 else 0


def fail(key, *, window=deadlines.LOGIN_WINDOW, lock_after=deadlines.LOGIN_LOCK_AFTER, lock=deadlines.LOGIN_LOCK):
    """Count one failure for this key, locking it once there are too many within the window; return the count."""
    row = _row(key)
    now = clock.now()
    if row.window_start + window < now:
        Throttle.update(failures=1, window_start=now, locked_until=None).where(Throttle.id == row.id).execute()
        return 1
    Throttle.update(failures=Throttle.failures + 1).where(Throttle.id == row.id).execute()
    failures = Throttle.get_by_id(row.id).failures
    if failures >= lock_after:
        Throttle.update(locked_until=now + lock).where(Throttle.id == row.id).execute()
    return failures


def slow_down(failures):
    """Make a caller wait a little more for each failure past the third (a login guessing attack)."""
    extra = failures - deadlines.LOGIN_SLOW_AFTER + 1
    if extra > 0:
        time.sleep(extra * current_app.config["LOGIN_SLOWDOWN_SECONDS"])


def reset(key):
    """Forget the failures of this key (a successful login, a new password, an unlock link)."""
    Throttle.delete().where(Throttle.key == key).execute()


def send_unlock_link(account):
    """E-mail the owner of a locked account a link that unlocks it at once."""
    owner = {"staff": account} if account.is_staff else {"user": account}
    raw = tokens.issue(TokenPurpose.UNLOCK, **owner)
    outbox.queue_email(
        account.email, "unlock", "Votre compte Hub Pro Transport est temporairement bloqué", account=account,
        minutes=int(deadlines.LOGIN_LOCK.total_seconds() // 60), link=outbox.public_url("auth.unlock", token=raw),
    )
