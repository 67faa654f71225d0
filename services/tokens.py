"""Single-use links e-mailed to people: created hashed, checked, consumed once."""
import hashlib
import secrets

from models import Token, TokenPurpose
from models import clock, deadlines


class LinkError(Exception):
    """A link that cannot be used; ``reason`` is « unknown », « expired » or « used »."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def _digest(raw):
    return hashlib.sha256(raw.encode()).hexdigest()


def issue(purpose, *, user=None, staff=None):
    """Create a link for a person and return its secret part; earlier unused links of the same kind die."""
    owner = {"user": user} if user is not None else {"staff": staff}
    kinds = _same_kind(purpose)
    (
        Token.update(used_at=clock.now())
        .where(
            Token.purpose.in_(kinds),
            Token.used_at.is_null(),
            (Token.user == user) if user is not None else (Token.staff == staff),
        )
        .execute()
    )
    validity = deadlines.CORRECTION_LINK_VALIDITY if purpose == TokenPurpose.CORRECTION else deadlines.link_validity()
    raw = secrets.token_urlsafe(32)
    Token.create(purpose=purpose, token_hash=_digest(raw), expires_at=clock.now() + validity, **owner)
    return raw


def _same_kind(purpose):
    """Password links replace one another; a correction or unlock link only replaces one of its kind."""
    if purpose in (TokenPurpose.CORRECTION, TokenPurpose.UNLOCK):
        return [purpose]
    return [TokenPurpose.CREATE_PASSWORD, TokenPurpose.RESET_PASSWORD, TokenPurpose.ACTIVATE_STAFF, TokenPurpose.RESET_STAFF]


def check(raw, purposes):
    """Return the usable link for this secret, or raise LinkError saying why it is not usable."""
    token = Token.get_or_none(Token.token_hash == _digest(raw or ""))
    if token is None or token.purpose not in purposes:
        raise LinkError("unknown")
    if token.used_at is not None:
        raise LinkError("used")
    if token.expires_at <= clock.now():
        raise LinkError("expired")
    return token


def consume(token):
    """Mark the link used; raise LinkError if another request used it first."""
    done = (
        Token.update(used_at=clock.now())
        .where(Token.id == token.id, Token.used_at.is_null())
        .execute()
    )
    if done != 1:
        raise LinkError("used")
