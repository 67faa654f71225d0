"""Every time rule of the product, in one place (DESIGN §4 and §5)."""
import datetime as dt

from flask import current_app

#: An account analysis should be done within this time; older ones are flagged and alerted.
ANALYSIS_TARGET = dt.timedelta(hours=24)
#: A contract subscribed by an organisation gets its number within this time; later ones are flagged and alerted.
CONTRACT_TARGET = dt.timedelta(hours=24)
#: A CQC request, a CQC replacement (loss, theft, defect) or a tachograph card request should be decided within this
#: time of reaching the service; a re-dispatch (handled as soon as its fee is paid) within a day.
CQC_TARGET = dt.timedelta(days=5)
REPLACEMENT_TARGET = dt.timedelta(days=5)
REDISPATCH_TARGET = dt.timedelta(days=1)
TACHOGRAPH_TARGET = dt.timedelta(days=5)
#: The target of each procedure, by its code: past it, a file sent or in instruction counts as late on the dashboard.
DECISION_TARGETS = {
    "COMPTE_PARTICULIER": ANALYSIS_TARGET,
    "CONTRAT_TACHY": CONTRACT_TARGET,
    "CONTRAT_CQC": CONTRACT_TARGET,
    "CQC": CQC_TARGET,
    "CQC_PERTE": REPLACEMENT_TARGET,
    "CQC_VOL": REPLACEMENT_TARGET,
    "CQC_QUALITE": REPLACEMENT_TARGET,
    "CQC_PND": REDISPATCH_TARGET,
    "TACHY_CONDUCTEUR": TACHOGRAPH_TARGET,
    "TACHY_ENTREPRISE": TACHOGRAPH_TARGET,
}
#: The dashboard's charts and medians cover this many days, today included.
DASHBOARD_DAYS = 30
#: A link to correct a non-compliant account stays valid this long.
CORRECTION_LINK_VALIDITY = dt.timedelta(days=30)
#: Expired or used links are kept this long (so the page can say « expiré »), then purged.
TOKEN_RETENTION = dt.timedelta(days=30)
#: Failed logins counted within this window; past LOGIN_LOCK_AFTER of them the account locks.
LOGIN_WINDOW = dt.timedelta(minutes=15)
LOGIN_SLOW_AFTER = 3
LOGIN_LOCK_AFTER = 5
LOGIN_LOCK = dt.timedelta(minutes=15)
#: After the password, a staff member has this long to type the code of their authenticator application.
SECOND_FACTOR_DELAY = dt.timedelta(minutes=5)
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

#: A qualification certificate proves the qualification this long (« valeur probatoire »).
CERTIFICATE_VALIDITY_MONTHS = 4
#: The driver is warned this long before the certificate ends without a CQC request sent.
CERTIFICATE_WARNING = dt.timedelta(days=15)
#: Continuing-training (FCO) summaries are shown this many years after their issue date.
FCO_SUMMARY_YEARS = 6
#: A CQC is valid this many years.
CARD_VALIDITY_YEARS = 5
#: A tachograph card is valid this many years; its renewal may be asked (and is offered) this many months before.
TACHOGRAPH_VALIDITY_YEARS = 5
RENEWAL_NOTICE_MONTHS = 3
#: An unanswered information request is recalled to the driver after this long, then again.
INFO_REMINDER = dt.timedelta(days=7)


def add_months(day, months):
    """Return the same day some months later (the last day of the month when it does not exist)."""
    import calendar

    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def add_years(day, years):
    """Return the same day some years later (28 February for 29 February)."""
    return add_months(day, 12 * years)


def renewal_opens_on(expires_on):
    """Return the first day a card expiring then may be renewed (3 months before)."""
    return add_months(expires_on, -RENEWAL_NOTICE_MONTHS)

#: A draft untouched this long is announced for erasure, then erased after the grace period.
DRAFT_ABANDONED = dt.timedelta(days=60)
DRAFT_GRACE = dt.timedelta(days=15)

#: Each scheduled job's runs are kept this long (« Suivi › Tâches planifiées »), then purged by the scheduler.
JOB_RUNS_KEPT = dt.timedelta(days=30)

# --- Retention (DESIGN §5, RGPD): what is erased, and when; services/retention.py applies each rule -------------

#: A card's file loses its identity documents, photo and signature this many months after the card is delivered
#: (the card keeps what it prints).
CARD_DOCUMENTS_KEPT_MONTHS = 6
#: A cancelled file loses its documents and the data typed at once: at the next run of the retention job (hourly).
CANCELLED_FILE_KEPT = dt.timedelta(0)
#: A refused file loses its documents and the data typed this many months after the refusal.
REFUSED_FILE_KEPT_MONTHS = 12
#: A message's text is erased this many months after it was sent (or given up): who, when and the subject stay.
MESSAGE_TEXT_KEPT_MONTHS = 12
#: An account never activated (no password ever created) is deleted this many months after its creation.
UNACTIVATED_ACCOUNT_KEPT_MONTHS = 6
#: The audit log keeps its lines this many years.
AUDIT_LOG_KEPT_YEARS = 5
#: Invoices and credit notes are kept this many years (code de commerce, art. L123-22), then their PDFs are erased.
INVOICE_KEPT_YEARS = 10
#: The link to a person's data export works this long; its ZIP is then erased.
DATA_EXPORT_VALIDITY = dt.timedelta(hours=48)


def months_before(moment, months):
    """Return the same time of day some months before a moment (the month's last day when the day does not exist)."""
    return dt.datetime.combine(add_months(moment.date(), -months), moment.time())
