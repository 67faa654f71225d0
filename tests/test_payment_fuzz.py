"""Property-based fuzzing of the payment provider's endpoints (issue 11): whatever body reaches the notification
(random bytes, random JSON, notifications of the right shape with wrong types or signatures) or the sandbox's
refund service, the answer is a 400, never a 500, and nothing changes without a valid signature.
"""
import json
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import (
    AuditLog, Dossier, DossierEvent, Invoice, InvoiceSequence, OutboxMessage, Payment, PaymentNotification, PaymentStatus,
    RequestState,
)
from services import payments
from tests.money_data import make_tariff, pending_payment

NOTIFY = "/paiement/notification"
REFUND = "/bac-a-sable/remboursement"
#: Examples per property: a few seconds each, on SQLite and PostgreSQL.
EXAMPLES = 200
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

CONTENT_TYPES = st.sampled_from([
    "application/json", "application/json; charset=latin-1", "application/x-www-form-urlencoded", "text/plain",
    "application/octet-stream", "multipart/form-data; boundary=x", "",
])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
#: What a field of a notification may be sent as: any JSON value, hostile text above all.
VALUES = st.one_of(
    st.text(), st.text(alphabet=st.characters(codec="utf-8"), max_size=300), st.sampled_from(["", "\x00", "é", "\ud800"]),
    st.integers(), st.floats(), st.booleans(), st.none(), st.lists(st.text(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
SIGNATURES = st.one_of(st.text(max_size=80), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), VALUES)


@pytest.fixture
def payment(app, make_driver):
    make_tariff()
    return pending_payment(make_driver(state="active"))


@pytest.fixture
def unchanged(app, payment):
    """Return a check that nothing but the log of refused notifications changed since the fixture ran."""

    def counts():
        return {model.__name__: model.select().count() for model in (Invoice, AuditLog, OutboxMessage, DossierEvent)}

    before = counts()

    def check(response):
        assert response.status_code == 400, (response.status_code, response.get_data(as_text=True)[:200])
        assert Payment.get_by_id(payment.id).status == PaymentStatus.PENDING
        assert Dossier.get_by_id(payment.dossier_id).state == RequestState.BROUILLON
        assert InvoiceSequence.get_by_id(1).last_number == 0
        assert counts() == before
        assert not PaymentNotification.select().where(PaymentNotification.accepted == True).exists()  # noqa: E712

    return check


@FUZZ
@given(body=st.binary(max_size=6000), content_type=CONTENT_TYPES)
def test_random_bytes(app, unchanged, body, content_type):
    unchanged(app.test_client().post(NOTIFY, data=body, content_type=content_type))


@FUZZ
@given(value=JSON)
def test_random_json(app, unchanged, value):
    unchanged(app.test_client().post(NOTIFY, data=json.dumps(value), content_type="application/json"))


def shaped(payment):
    """Notifications of the right shape: each field the right value or a wrong one, and any signature.

    None is the right one: a drawn signature matching the HMAC-SHA256 of the fields has a chance of 2^-256.
    """
    right = {"reference": payment.reference, "amount": str(payment.amount_cents), "currency": "EUR", "status": "paid",
             "transaction": "T1"}
    return st.fixed_dictionaries(
        {},
        optional={name: st.one_of(st.just(value), st.just(int(value)) if value.isdigit() else VALUES, VALUES)
                  for name, value in right.items()} | {"signature": SIGNATURES},
    )


@FUZZ
@given(data=st.data(), as_json=st.booleans())
def test_notifications_of_the_right_shape_without_the_right_signature(app, unchanged, payment, data, as_json):
    notification = data.draw(shaped(payment))
    if as_json:
        body, content_type = json.dumps(notification), "application/json"
    else:
        # A form carries text only: each value as written out, a lone surrogate as the bytes it would be sent as.
        body = urllib.parse.urlencode({name: str(value) for name, value in notification.items()}, errors="surrogatepass")
        content_type = "application/x-www-form-urlencoded"
    unchanged(app.test_client().post(NOTIFY, data=body, content_type=content_type))


@FUZZ
@given(fields=st.dictionaries(st.sampled_from([*payments.REFUND_REQUEST_FIELDS, "signature", "x"]), st.text(), max_size=6))
def test_the_sandbox_refunds_nothing_unsigned(app, unchanged, fields):
    response = app.test_client().post(REFUND, data=fields)
    assert response.get_json() == {"status": "refused"}
    unchanged(response)
