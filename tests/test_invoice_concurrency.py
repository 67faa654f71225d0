"""Invoice numbers under concurrent payments: one chronological sequence, no gap, no duplicate.

PostgreSQL only: SQLite lets one writer at a time, so it cannot show a race.
"""
import threading
import time

import pytest

from models import Invoice, InvoiceSequence, Payment, PaymentNotification, PaymentStatus, db
from services import documents, dossiers
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
