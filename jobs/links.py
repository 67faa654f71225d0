"""Purge password, activation and correction links expired or used long ago."""
from models import Token
from models import clock, deadlines


def run():
    limit = clock.now() - deadlines.TOKEN_RETENTION
    purged = Token.delete().where((Token.expires_at < limit) | (Token.used_at < limit)).execute()
    return {"purged": purged}
