"""Data the payment and invoice tests share: a tariff, a replacement file awaiting payment, a signed notification."""
import datetime as dt
import io
import secrets
from decimal import Decimal

from pypdf import PdfReader

from models import Tariff
from services import payments, transitions

#: The CQC tariff of DESIGN §2: 28,24 € HT from 2023-09-01, VAT 20 % (33,89 € TTC).
PRICE_HT = Decimal("28.24")
PRICE_CENTS = 3389


def make_tariff(product="CQC_REMPLACEMENT", amount_ht=PRICE_HT, start=dt.date(2023, 9, 1)):
    return Tariff.create(product=product, amount_ht=amount_ht, vat_rate=Decimal("20"), start_date=start)


def pending_payment(user, product="CQC_REMPLACEMENT"):
    """Open a replacement (loss) file for the driver and start its payment, as the replacement pages do."""
    dossier = transitions.open_dossier("CQC_PERTE", user)
    return payments.checkout(dossier, user, product)


def notification(payment, status="paid", **overrides):
    """Return the provider's signed notification for a payment (overrides are signed too)."""
    fields = {
        "reference": payment.reference,
        "amount": str(payment.amount_cents),
        "currency": "EUR",
        "status": status,
        "transaction": "T" + secrets.token_hex(6).upper(),
    }
    fields.update(overrides)
    fields["signature"] = payments.sign(fields)
    return fields


def pdf_text(data):
    """Return the text of a PDF with whitespace (non-breaking spaces included) collapsed to single spaces."""
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def route_refunds(monkeypatch, client):
    """Deliver the application's refund requests to the sandbox through a test client; return the answers received."""
    from tests.conftest import path_of

    answers = []

    def request_refund(url, fields):
        answer = client.post(path_of(url), data=fields).get_json()
        answers.append(answer)
        return answer

    monkeypatch.setattr(payments, "request_refund", request_refund)
    return answers
