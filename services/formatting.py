"""How values read in French pages, e-mails and PDFs: 16/06/2023, 28,24 €."""
import datetime as dt
from decimal import Decimal

from models import clock


def date_fr(value):
    """Format a date or a stored UTC datetime as 16/06/2023."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        value = clock.local(value)
    return value.strftime("%d/%m/%Y")


def datetime_fr(value):
    """Format a stored UTC datetime as 16/06/2023 à 14:05 (Paris time)."""
    if value is None:
        return ""
    return clock.local(value).strftime("%d/%m/%Y à %H:%M")


def money(value):
    """Format an amount as 28,24 € (non-breaking spaces between thousands and before €)."""
    amount = Decimal(value).quantize(Decimal("0.01"))
    whole, cents = f"{amount:,.2f}".split(".")
    return whole.replace(",", "\u202f") + "," + cents + "\u00a0€"


def siret_fr(value):
    """Format a SIRET as 477 280 846 03753 (SIREN by threes, then NIC)."""
    value = value or ""
    if len(value) != 14:
        return value
    return f"{value[:3]} {value[3:6]} {value[6:9]} {value[9:]}"


def phone_fr(value):
    """Format a 10-digit phone number as 01 23 45 67 89."""
    value = value or ""
    if len(value) != 10 or not value.isdigit():
        return value
    return " ".join(value[i:i + 2] for i in range(0, 10, 2))


def count_fr(value):
    """Format a count as 1 234, and a capped one (models.capped_count) as « plus de 10 000 »."""
    from models import COUNT_CAP

    if value > COUNT_CAP:
        return "plus de " + f"{COUNT_CAP:,}".replace(",", "\u202f")
    return f"{value:,}".replace(",", "\u202f")


def state_fr(state):
    """Name a file's or a card's state as people read it (« En cours d'instruction »)."""
    from models import STATE_LABELS

    return STATE_LABELS.get(state, state or "")


def init_app(app):
    """Register the filters every template uses."""
    app.add_template_filter(state_fr)
    app.add_template_filter(date_fr)
    app.add_template_filter(datetime_fr)
    app.add_template_filter(money)
    app.add_template_filter(siret_fr)
    app.add_template_filter(phone_fr)
    app.add_template_filter(count_fr)
