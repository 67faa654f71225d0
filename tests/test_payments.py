"""Card payments: the signed notification (the only source of truth), the return page, the sandbox provider."""
import json
import urllib.parse
from decimal import Decimal

import pytest

from models import (
    AuditLog, Dossier, DossierEvent, Invoice, InvoiceKind, InvoiceSequence, OutboxMessage, Payment, PaymentNotification,
    PaymentStatus, RequestState,
)
from services import dossiers, payments
from tests.conftest import path_of
from tests.money_data import PRICE_CENTS, make_tariff, notification, pending_payment, route_refunds

NOTIFY = "/paiement/notification"


@pytest.fixture
def driver(make_driver):
    make_tariff()
    return make_driver(state="active", first_name="Éloïse", last_name="Lefèvre")


@pytest.fixture
def payment(driver):
    return pending_payment(driver)


@pytest.fixture
def provider(app):
    """A client without the driver's cookies: the provider's servers posting notifications."""
    return app.test_client()


def fresh(payment):
    return Payment.get_by_id(payment.id)


def decisions():
    return [(n.accepted, n.reason) for n in PaymentNotification.select().order_by(PaymentNotification.id)]


def test_checkout_freezes_the_price_on_the_file(payment):
    assert payment.status == PaymentStatus.PENDING and payment.amount_cents == PRICE_CENTS
    dossier = Dossier.get_by_id(payment.dossier_id)
    assert (dossier.price_ht, dossier.vat_rate) == (Decimal("28.24"), Decimal("20"))


def test_a_paid_notification_submits_the_file_and_issues_exactly_one_invoice(provider, payment, driver):
    response = provider.post(NOTIFY, data=notification(payment, transaction="SBX42"))
    assert response.status_code == 200 and response.get_data(as_text=True) == "OK"
    paid = fresh(payment)
    assert paid.status == PaymentStatus.PAID and paid.settled_at is not None and paid.provider_reference == "SBX42"
    assert paid.dossier.state == RequestState.ENVOYEE
    invoice = Invoice.get()
    assert Invoice.select().count() == 1
    assert (invoice.number, invoice.payment_id, invoice.user_id) == (1, payment.id, driver.id)
    assert (invoice.total_ht, invoice.total_vat, invoice.total_ttc) == (Decimal("28.24"), Decimal("5.65"), Decimal("33.89"))
    assert decisions() == [(True, "appliquée")]
    mail = OutboxMessage.get(OutboxMessage.subject.contains("FA-00000001"))
    assert mail.recipient == driver.email and "33,89" in mail.body_text
    assert json.loads(mail.attachments)[0]["filename"] == "FA-00000001.pdf"


def test_a_replayed_notification_has_no_second_effect(provider, payment):
    fields = notification(payment)
    assert provider.post(NOTIFY, data=fields).status_code == 200
    settled_at = fresh(payment).settled_at
    # The same notification again, then a contradicting (but validly signed) one.
    assert provider.post(NOTIFY, data=fields).get_data(as_text=True) == "OK"
    assert provider.post(NOTIFY, data=notification(payment, status="refused")).status_code == 200
    again = fresh(payment)
    assert again.status == PaymentStatus.PAID and again.settled_at == settled_at
    assert Invoice.select().count() == 1 and InvoiceSequence.get_by_id(1).last_number == 1
    assert DossierEvent.select().where(DossierEvent.event == "submit").count() == 1
    assert OutboxMessage.select().where(OutboxMessage.subject.contains("FA-")).count() == 1
    assert decisions() == [(True, "appliquée"), (True, "déjà traitée"), (True, "déjà traitée")]


#: Notifications the application must refuse, with the reason it logs.
REFUSALS = {
    "forged signature": (lambda p: {**notification(p), "signature": "0" * 64}, "signature invalide"),
    "changed after signing": (lambda p: {**notification(p), "amount": "1"}, "signature invalide"),
    "unsigned": (lambda p: {k: v for k, v in notification(p).items() if k != "signature"}, "signature invalide"),
    "unknown reference": (lambda p: notification(p, reference="PINCONNUE"), "référence inconnue"),
    "wrong amount": (lambda p: notification(p, amount="100"), "montant incorrect"),
    "wrong currency": (lambda p: notification(p, currency="USD"), "montant incorrect"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refused_notifications_change_nothing_and_are_logged(provider, payment, case):
    build, reason = REFUSALS[case]
    fields = build(payment)
    response = provider.post(NOTIFY, data=fields)
    assert response.status_code == 400 and response.get_data(as_text=True) == reason
    assert fresh(payment).status == PaymentStatus.PENDING
    assert fresh(payment).dossier.state == RequestState.BROUILLON
    assert Invoice.select().count() == 0 and InvoiceSequence.get_by_id(1).last_number == 0
    logged = PaymentNotification.get()
    assert (logged.accepted, logged.reason) == (False, reason)
    assert json.loads(logged.payload)["reference"] == fields["reference"]


def test_the_notification_needs_no_csrf_token_but_the_portal_forms_do(app, provider, payment, client, login_user, driver):
    login_user(driver)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert provider.post(NOTIFY, data=notification(payment)).status_code == 200
        assert client.post(f"/paiement/retour/{payment.reference}/reprendre").status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert fresh(payment).status == PaymentStatus.PAID


def test_a_refused_payment_leaves_the_file_waiting_and_reprendre_pays_again(provider, payment, client, login_user, driver):
    assert provider.post(NOTIFY, data=notification(payment, status="refused")).status_code == 200
    refused = fresh(payment)
    assert refused.status == PaymentStatus.REFUSED and refused.dossier.state == RequestState.BROUILLON
    assert Invoice.select().count() == 0
    login_user(driver)
    page = client.get(f"/paiement/retour/{payment.reference}").get_data(as_text=True)
    assert "Paiement refusé" in page and "Reprendre" in page and "33,89" in page
    response = client.post(f"/paiement/retour/{payment.reference}/reprendre")
    assert response.status_code == 302
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert location.path == "/bac-a-sable/paiement"
    new = Payment.get(Payment.id != payment.id)
    assert urllib.parse.parse_qs(location.query)["reference"] == [new.reference]
    assert new.status == PaymentStatus.PENDING and new.dossier_id == payment.dossier_id
    assert fresh(payment).status == PaymentStatus.REFUSED


def test_an_abandoned_payment_stays_pending_and_reprendre_pays_the_same_reference(client, login_user, driver, payment, monkeypatch):
    sent = []
    monkeypatch.setattr(payments, "send_notification", lambda url, fields: sent.append(fields))
    login_user(driver)
    hosted = path_of(payments.hosted_page_url(payment))
    assert client.get(hosted).status_code == 200
    response = client.post(hosted, data={"action": "cancel"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"http://localhost/paiement/retour/{payment.reference}"
    assert sent == [] and PaymentNotification.select().count() == 0
    assert fresh(payment).status == PaymentStatus.PENDING and fresh(payment).dossier.state == RequestState.BROUILLON
    back = client.get(path_of(response.headers["Location"]))
    page = back.get_data(as_text=True)
    assert "Paiement en cours de confirmation" in page and "Reprendre" in page
    assert back.headers["Refresh"] == "3"
    again = client.post(f"/paiement/retour/{payment.reference}/reprendre")
    # One pending payment per file: paying again reuses its reference, so nobody is charged twice.
    assert payment.reference in again.headers["Location"] and Payment.select().count() == 1
    assert fresh(payment).status == PaymentStatus.PENDING and Invoice.select().count() == 0


def test_a_refused_payment_is_followed_by_a_new_one(provider, client, login_user, driver, payment):
    provider.post(NOTIFY, data=notification(payment, status="refused"))
    assert fresh(payment).status == PaymentStatus.REFUSED
    login_user(driver)
    again = client.post(f"/paiement/retour/{payment.reference}/reprendre")
    new = Payment.get(Payment.id != payment.id)
    assert new.reference in again.headers["Location"] and new.status == PaymentStatus.PENDING


def test_reprendre_is_refused_once_the_file_is_paid(provider, client, login_user, driver, payment):
    provider.post(NOTIFY, data=notification(payment))
    login_user(driver)
    response = client.post(f"/paiement/retour/{payment.reference}/reprendre")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/paiement/retour/{payment.reference}")
    assert Payment.select().count() == 1


def test_the_return_page_is_only_for_the_payer(client, login_user, make_driver, payment):
    assert client.get(f"/paiement/retour/{payment.reference}").status_code == 302  # to the login page
    login_user(make_driver(state="active"))
    assert client.get(f"/paiement/retour/{payment.reference}").status_code == 404
    assert client.post(f"/paiement/retour/{payment.reference}/reprendre").status_code == 404
    assert client.get("/paiement/retour/PINCONNUE").status_code == 404


@pytest.fixture
def sandbox_posts(monkeypatch, provider):
    """Deliver the sandbox's server-to-server notifications to the application through a test client."""
    delivered = []

    def send(url, fields):
        assert url == "http://localhost/paiement/notification"  # the application's own address, whatever the order said
        response = provider.post(path_of(url), data=fields)
        delivered.append((fields, response.status_code))
        return response.status_code

    monkeypatch.setattr(payments, "send_notification", send)
    return delivered


CARD = {"expiry": "12/30", "cvc": "123", "action": "pay"}


def test_the_sandbox_flow_pays_and_comes_back(client, login_user, driver, payment, sandbox_posts):
    login_user(driver)
    hosted = path_of(payments.hosted_page_url(payment))
    page = client.get(hosted).get_data(as_text=True)
    assert "Bac à sable – paiement par carte" in page and "33,89\u00a0€" in page
    assert "4111 1111 1111 1111" in page and "4000 0000 0000 0002" in page
    response = client.post(hosted, data={**CARD, "number": "4111 1111 1111 1111"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"http://localhost/paiement/retour/{payment.reference}"
    (fields, status), = sandbox_posts
    assert status == 200 and fields["status"] == "paid" and fields["amount"] == str(PRICE_CENTS)
    assert fields["signature"] == payments.sign(fields)
    back = client.get(path_of(response.headers["Location"]))
    page = back.get_data(as_text=True)
    assert "Paiement accepté" in page and "FA-00000001" in page and "Refresh" not in back.headers
    assert "/mes-demandes" in page or "Mes demandes en cours" in page
    assert 'href="/mes-factures"' in page
    assert fresh(payment).status == PaymentStatus.PAID and Invoice.select().count() == 1


def test_the_sandbox_refused_card(client, login_user, driver, payment, sandbox_posts):
    login_user(driver)
    hosted = path_of(payments.hosted_page_url(payment))
    response = client.post(hosted, data={**CARD, "number": "4000000000000002"}, follow_redirects=True)
    assert "Paiement refusé" in response.get_data(as_text=True)
    assert sandbox_posts[0][0]["status"] == "refused" and fresh(payment).status == PaymentStatus.REFUSED


def test_the_sandbox_refuses_unknown_cards_and_bad_fields(client, driver, payment, sandbox_posts):
    hosted = path_of(payments.hosted_page_url(payment))
    page = client.post(hosted, data={"number": "5555 5555 5555 4444", "expiry": "13/30", "cvc": "12", "action": "pay"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Carte de test inconnue" in text
    assert "Mois invalide" in text and "3 chiffres" in text
    assert sandbox_posts == [] and fresh(payment).status == PaymentStatus.PENDING


def test_the_sandbox_refuses_a_tampered_order(client, payment, sandbox_posts):
    url = urllib.parse.urlsplit(payments.hosted_page_url(payment))
    query = dict(urllib.parse.parse_qsl(url.query))
    for change in ({"amount": "1"}, {"return_url": "https://evil.example/"}, {"signature": "x"}):
        tampered = f"{url.path}?{urllib.parse.urlencode({**query, **change})}"
        response = client.get(tampered)
        assert response.status_code == 400 and "Ordre de paiement invalide" in response.get_data(as_text=True)
        assert client.post(tampered, data={**CARD, "number": "4111111111111111"}).status_code == 400
    assert sandbox_posts == [] and fresh(payment).status == PaymentStatus.PENDING


def test_the_sandbox_exists_only_without_a_provider(app, client, payment):
    hosted = path_of(payments.hosted_page_url(payment))
    app.config["PAYMENT_PROVIDER_URL"] = "https://paiement.prestataire.example/page"
    try:
        assert client.get(hosted).status_code == 404
        assert payments.hosted_page_url(payment).startswith("https://paiement.prestataire.example/page?reference=")
    finally:
        app.config["PAYMENT_PROVIDER_URL"] = ""


def signed_order(payment, **changes):
    """Return the sandbox URL of a payment's order with fields changed and signed again (a leaked secret)."""
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(payments.hosted_page_url(payment)).query))
    query.update(changes)
    query["signature"] = payments.sign({k: v for k, v in query.items() if k != "signature"})
    return "/bac-a-sable/paiement?" + urllib.parse.urlencode(query)


@pytest.mark.parametrize("changes", [
    {"notify_url": "http://169.254.169.254/latest/meta-data/"},
    {"notify_url": "http://localhost:6379/"},
    {"return_url": "https://evil.example/"},
    {"return_url": "//evil.example/paiement/retour/P1"},
    {"return_url": "http://localhost/paiement/retour/PAUTRE"},
])
def test_the_sandbox_talks_only_to_the_application_even_on_a_signed_order(client, payment, sandbox_posts, changes):
    url = signed_order(payment, **changes)
    assert client.get(url).status_code == 400
    assert client.post(url, data={**CARD, "number": "4111111111111111"}).status_code == 400
    assert client.post(url, data={"action": "cancel"}).status_code == 400
    assert sandbox_posts == [] and fresh(payment).status == PaymentStatus.PENDING


def test_the_sandbox_sends_the_browser_back_to_the_app_only(client, payment, sandbox_posts):
    hosted = path_of(payments.hosted_page_url(payment))
    for data in ({"action": "cancel"}, {**CARD, "number": "4111111111111111"}):
        location = client.post(hosted, data=data).headers["Location"]
        assert location == f"http://localhost/paiement/retour/{payment.reference}"


# --- A payment the file no longer waited for -----------------------------------------------------------------


@pytest.fixture
def refunds(monkeypatch, provider):
    """Route the application's refund requests to the sandbox."""
    return route_refunds(monkeypatch, provider)


def audit_actions():
    return [entry.action for entry in AuditLog.select().order_by(AuditLog.id)]


def test_a_payment_for_a_cancelled_file_is_recorded_invoiced_refunded_and_credited(
        provider, client, login_user, driver, payment, refunds):
    dossiers.cancel(payment.dossier, driver)
    response = provider.post(NOTIFY, data=notification(payment, transaction="SBX42"))
    assert response.status_code == 200 and response.get_data(as_text=True) == "OK"

    refunded = fresh(payment)
    assert refunded.status == PaymentStatus.REFUNDED and refunded.provider_reference == "SBX42"
    assert refunded.refunded_at is not None and refunded.refund_reference.startswith("SBXR")
    assert refunded.dossier.state == RequestState.ANNULEE  # the file stays as the holder left it
    (answer,) = refunds
    assert answer["status"] == "refunded" and answer["reference"] == payment.reference and answer["amount"] == "3389"
    invoice, note = Invoice.select().order_by(Invoice.number)
    assert (invoice.kind, invoice.payment_id, invoice.total_ttc) == (InvoiceKind.INVOICE, payment.id, Decimal("33.89"))
    assert (note.kind, note.credits_id, note.total_ttc, note.number) == (InvoiceKind.CREDIT_NOTE, invoice.id, Decimal("-33.89"), 2)
    assert "ne l'attendait plus" in note.lines.get().description and note.pdf_sha256
    assert audit_actions()[-3:] == [
        "Paiement confirmé", "Paiement reçu pour une demande qui ne l'attendait plus : remboursé avec un avoir",
        "Paiement remboursé"]
    refund_line = AuditLog.get(AuditLog.action == "Paiement remboursé")
    assert refunded.refund_reference in refund_line.detail and "AV-00000002" in refund_line.detail
    assert {m.subject for m in OutboxMessage.select().where(OutboxMessage.recipient == driver.email,
                                                            OutboxMessage.subject.contains("Hub Pro Transport n°"))} == {
        "Votre facture Hub Pro Transport n° FA-00000001", "Votre avoir Hub Pro Transport n° AV-00000002"}

    login_user(driver)
    page = client.get(f"/paiement/retour/{payment.reference}").get_data(as_text=True)
    assert "Paiement remboursé" in page and "FA-00000001" in page and "AV-00000002" in page and "Reprendre" not in page

    # The provider replays its notification, the holder reloads: nothing more is refunded, credited or numbered.
    assert provider.post(NOTIFY, data=notification(payment, transaction="SBX42")).get_data(as_text=True) == "OK"
    assert len(refunds) == 1 and Invoice.select().count() == 2 and InvoiceSequence.get_by_id(1).last_number == 2
    assert payments.refund(payment) is None and payments.refund_pending() == 0


def test_a_refund_the_provider_cannot_make_now_is_made_by_the_job(provider, runner, driver, payment, monkeypatch, caplog):
    dossiers.cancel(payment.dossier, driver)

    def unreachable(url, fields):
        raise OSError("connexion refusée")

    monkeypatch.setattr(payments, "request_refund", unreachable)
    assert provider.post(NOTIFY, data=notification(payment)).status_code == 200
    waiting = fresh(payment)
    assert waiting.status == PaymentStatus.TO_REFUND and waiting.refunded_at is None
    assert Invoice.select().count() == 1  # recorded and invoiced; the credit note comes with the refund
    assert "non effectué (connexion refusée)" in caplog.text

    answers = route_refunds(monkeypatch, provider)
    assert "'refunded': 1" in runner.invoke(args=["jobs", "run-once", "refunds"]).output
    assert fresh(payment).status == PaymentStatus.REFUNDED and len(answers) == 1
    assert Invoice.select().where(Invoice.kind == InvoiceKind.CREDIT_NOTE).count() == 1
    assert "'refunded': 0" in runner.invoke(args=["jobs", "run-once", "refunds"]).output


def test_a_refund_answer_not_signed_by_the_provider_is_not_believed(provider, driver, payment, monkeypatch):
    dossiers.cancel(payment.dossier, driver)
    answers = []

    def forged(url, fields):
        answers.append(fields)
        return {**fields, "status": "refunded", "refund": "X1", "signature": "0" * 64}

    monkeypatch.setattr(payments, "request_refund", forged)
    assert provider.post(NOTIFY, data=notification(payment)).status_code == 200
    assert len(answers) == 1 and fresh(payment).status == PaymentStatus.TO_REFUND
    assert not Invoice.select().where(Invoice.kind == InvoiceKind.CREDIT_NOTE).exists()


def test_the_sandbox_refunds_a_signed_request_once_and_refuses_a_forged_one(provider, payment):
    order = {"reference": payment.reference, "transaction": "SBX42", "amount": "3389", "currency": "EUR"}
    signed = {**order, "signature": payments.sign(order)}
    first = provider.post("/bac-a-sable/remboursement", data=signed)
    again = provider.post("/bac-a-sable/remboursement", data=signed)
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json()  # asked twice, one refund
    answer = first.get_json()
    assert answer["status"] == "refunded" and answer["signature"] == payments.sign(answer)
    for forged in ({**signed, "amount": "1"}, {**signed, "signature": "0" * 64}, {**order, "signature": ""}):
        response = provider.post("/bac-a-sable/remboursement", data=forged)
        assert response.status_code == 400 and response.get_json() == {"status": "refused"}


# --- Notifications that hold no fields -------------------------------------------------------------------------

#: Bodies that are not a notification at all: each is a clean 400, logged, and changes nothing.
UNREADABLE = {
    "empty form": (b"", "application/x-www-form-urlencoded", "signature invalide"),
    "empty JSON": (b"", "application/json", "signature invalide"),
    "not JSON": (b"{reference: P1", "application/json", "notification illisible"),
    "a JSON list": (b'["reference", "signature"]', "application/json", "notification illisible"),
    "a JSON number": (b"42", "application/json", "notification illisible"),
    "nested values": (b'{"reference": {"$ne": ""}, "signature": []}', "application/json", "notification illisible"),
    "a lone surrogate": (b'{"reference": "\\ud800", "signature": "x"}', "application/json", "notification illisible"),
    "NaN": (b'{"amount": NaN}', "application/json", "notification illisible"),
    "deeply nested": (b"[" * 100_00 + b"]" * 100_00, "application/json", "notification illisible"),
    "not UTF-8": (b"reference=\xff\xfe&signature=x", "application/x-www-form-urlencoded", "notification illisible"),
    "a NUL byte": (b"reference=P%00&signature=x", "application/x-www-form-urlencoded", "notification illisible"),
    "a line break": (b"reference=P%0A1&signature=x", "application/x-www-form-urlencoded", "notification illisible"),
    "not form-encoded": (b"\x00\x01garbage", "application/octet-stream", "notification illisible"),
    "non-ASCII text": ("référence=Pé&signature=ç".encode(), "text/plain; charset=utf-8", "signature invalide"),
    "too many fields": (b"&".join(b"f%d=1" % n for n in range(60)), "application/x-www-form-urlencoded",
                        "notification illisible"),
    "too big": (b"reference=" + b"P" * 5000, "application/x-www-form-urlencoded", "notification illisible"),
    "huge": (b"x" * (13 * 1024 * 1024), "application/json", "notification illisible"),
}


@pytest.mark.parametrize("case", UNREADABLE)
def test_an_unreadable_notification_is_a_logged_400(provider, payment, case, caplog):
    body, content_type, reason = UNREADABLE[case]
    response = provider.post(NOTIFY, data=body, content_type=content_type)
    assert response.status_code == 400 and response.get_data(as_text=True) == reason
    logged = PaymentNotification.get()
    assert (logged.accepted, logged.reason) == (False, reason) and len(logged.payload) < 10_000
    assert isinstance(json.loads(logged.payload), dict)  # readable in the back office's log
    assert "Notification de paiement refusée" in caplog.text
    assert fresh(payment).status == PaymentStatus.PENDING and Invoice.select().count() == 0


def test_a_json_notification_is_applied_like_a_form(provider, payment):
    fields = notification(payment)
    response = provider.post(NOTIFY, data=json.dumps({**fields, "amount": int(fields["amount"])}),
                             content_type="application/json")
    assert response.status_code == 200 and fresh(payment).status == PaymentStatus.PAID
