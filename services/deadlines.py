"""Every time rule of the product, in one place (DESIGN §4 and §5)."""
import datetime as dt

from flask import current_app

#: An account analysis should be done within this time; older ones are flagged and alerted.
ANALYSIS_TARGET = dt.timedelta(hours=24)
#: A link to correct a non-compliant account stays valid this long.
CORRECTION_LINK_VALIDITY = dt.timedelta(days=30)
#: Expired or used links are kept this long (so the page can say « expiré »), then purged.
TOKEN_RETENTION = dt.timedelta(days=30)
#: Failed logins counted within this window; past LOGIN_LOCK_AFTER of them the account locks.
LOGIN_WINDOW = dt.timedelta(minutes=15)
LOGIN_SLOW_AFTER = 3
LOGIN_LOCK_AFTER = 5
LOGIN_LOCK = dt.timedelta(minutes=15)
#: Public forms that create something or send an e-mail: at most so many per address and hour.
FORM_RATE_WINDOW = dt.timedelta(hours=1)
#: Outbox: attempts before a message is given up, and the wait after each failure.
OUTBOX_MAX_ATTEMPTS = 8
#: How long a dispatcher owns the messages it picked before another may take them.
OUTBOX_LEASE = dt.timedelta(minutes=5)
OUTBOX_BACKOFF = [dt.timedelta(minutes=m) for m in (1, 5, 15, 60, 180, 360, 720)]


def link_validity():
    """Return how long a password or activation link stays valid (LINK_VALIDITY_HOURS, 48 h)."""
    return dt.timedelta(hours=current_app.config["LINK_VALIDITY_HOURS"])
