"""Brute-force protection shared by every web process: failures counted in the database."""
import time

from flask import current_app
from peewee import IntegrityError

from models import Throttle, db
from models import clock, deadlines


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
    """Count one failure for this key, locking it once there are too many within the window."""
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
    """Forget the failures of this key (a successful login)."""
    Throttle.delete().where(Throttle.key == key).execute()


def allow(key, limit, window=deadlines.FORM_RATE_WINDOW):
    """Count one use of a rate-limited form; return False once the key used up its limit."""
    row = _row(key)
    now = clock.now()
    if row.window_start + window < now:
        Throttle.update(failures=1, window_start=now).where(Throttle.id == row.id).execute()
        return True
    Throttle.update(failures=Throttle.failures + 1).where(Throttle.id == row.id).execute()
    return Throttle.get_by_id(row.id).failures <= limit
