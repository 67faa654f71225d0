"""Invoice numbers under concurrent payments: one chronological sequence, no gap, no duplicate; a double click
makes one credit note, two monthly runs at once one invoice per holder.

PostgreSQL only: SQLite lets one writer at a time, so it cannot show a race.
"""
import datetime as dt
import threading
import time
from decimal import Decimal

import pytest

from models import (
    Invoice, InvoiceKind, InvoiceSequence, Organisation, Payment, PaymentNotification, PaymentStatus, StaffRole, Tariff, db,
)
from models import clock
from services import documents, dossiers, invoices
from tests.money_data import make_tariff, notification, pending_payment

THREADS = 8
PAYMENTS = 40


@pytest.fixture
def postgres(app):
    if "Postgres" not in type(db.obj).__name__:
        pytest.skip("concurrence des numéros de facture : PostgreSQL uniquement (DATABASE_URL)")


@pytest.fixture
def quick_pdfs(monkeypatch):
    """A PDF that takes a few milliseconds (test_invoices renders real ones): the race window stays open."""

    def render(template, **context):
        time.sleep(0.005)
        return b"%PDF-1.4\n" + context["invoice"].display_number.encode()

    monkeypatch.setattr(documents, "render_pdf", render)


def test_concurrent_confirmations_number_invoices_1_to_40(postgres, quick_pdfs, app, make_driver):
    make_tariff()
    drivers = [make_driver(state="active") for _ in range(THREADS)]
    pending = [pending_payment(drivers[n % THREADS]) for n in range(PAYMENTS)]
    notifications = [notification(payment) for payment in pending]
    # Every notification is delivered twice, by two different threads, as a provider retrying would.
    batches = [notifications[n::THREADS] + notifications[(n + 1) % THREADS::THREADS] for n in range(THREADS)]
    start = threading.Barrier(THREADS)
    errors = []

    def confirm(batch):
        try:
            with app.app_context():
                db.connect(reuse_if_open=True)
                try:
                    start.wait(timeout=30)
                    for fields in batch:
                        dossiers.settle_payment(fields)
                finally:
                    db.close()
        except Exception as error:  # reported below, with the thread's traceback lost but its message kept
            errors.append(repr(error))

    threads = [threading.Thread(target=confirm, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []

    issued = list(Invoice.select().order_by(Invoice.number))
    assert [invoice.number for invoice in issued] == list(range(1, PAYMENTS + 1))
    assert InvoiceSequence.get_by_id(1).last_number == PAYMENTS
    assert sorted(invoice.payment_id for invoice in issued) == sorted(payment.id for payment in pending)
    # Chronological: a higher number is never issued before a lower one.
    assert [invoice.issued_at for invoice in issued] == sorted(invoice.issued_at for invoice in issued)
    assert Payment.select().where(Payment.status == PaymentStatus.PAID).count() == PAYMENTS
    reasons = [n.reason for n in PaymentNotification.select()]
    assert reasons.count("appliquée") == PAYMENTS and reasons.count("déjà traitée") == PAYMENTS


def run_together(app, work, count=THREADS):
    """Run work(n) in count threads started at once, each on its own connection; return what each returned or raised."""
    start = threading.Barrier(count)
    outcomes = [None] * count

    def run(n):
        with app.app_context():
            db.connect(reuse_if_open=True)
            try:
                start.wait(timeout=30)
                outcomes[n] = work(n)
            except Exception as error:  # kept as the thread's outcome
                outcomes[n] = error
            finally:
                db.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_a_double_click_on_emettre_un_avoir_makes_one_credit_note(postgres, quick_pdfs, app, make_driver, make_staff):
    make_tariff()
    payment = pending_payment(make_driver(state="active"))
    dossiers.settle_payment(notification(payment))
    invoice = Invoice.get()
    staff = make_staff(role=StaffRole.LOCAL_ADMIN)
    outcomes = run_together(app, lambda n: invoices.credit_note(Invoice.get_by_id(invoice.id), staff, "Double clic"))
    notes = [outcome for outcome in outcomes if isinstance(outcome, Invoice)]
    refusals = [outcome for outcome in outcomes if isinstance(outcome, ValueError)]
    assert len(notes) == 1 and len(refusals) == THREADS - 1, outcomes
    assert all("déjà un avoir" in str(refusal) for refusal in refusals)
    assert Invoice.select().where(Invoice.kind == InvoiceKind.CREDIT_NOTE).count() == 1
    assert InvoiceSequence.get_by_id(1).last_number == 2  # no number lost to the refused ones


def test_two_monthly_runs_at_once_make_one_invoice_per_holder(postgres, quick_pdfs, app, make_driver):
    from tests.test_invoices import issue_card

    Tariff.create(product="CQC", amount_ht=Decimal("28.24"), vat_rate=Decimal("20"), start_date=dt.date(2023, 9, 1))
    month_start = (clock.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    for n in range(3):
        centre = Organisation.create(kind="centre", siret=f"4772808460375{n}", name=f"Centre {n}")
        issue_card(centre, make_driver(state="active"), f"2300004{n}", month_start + dt.timedelta(days=3))
    outcomes = run_together(app, lambda n: invoices.monthly_contract_invoices(month_start), count=4)
    assert all(isinstance(outcome, int) for outcome in outcomes), outcomes
    assert sum(outcomes) == 3
    assert Invoice.select().count() == 3 and InvoiceSequence.get_by_id(1).last_number == 3
