"""Invoice each contract holder the cards issued last month under its contract; erase invoice PDFs kept past 10 years."""
import datetime as dt

from models import clock
from services import invoices


def run():
    previous_month = (clock.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    return {
        "rendered": invoices.render_pending(),
        "monthly": invoices.monthly_contract_invoices(previous_month),
        "purged": invoices.purge_expired(),
    }
