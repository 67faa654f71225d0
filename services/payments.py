"""Card payments through a provider adapter.

The driver is sent to the provider's hosted page; the provider's signed server-to-server
notification (HMAC-SHA256 over the fields, secret PAYMENT_SECRET) is the only thing that marks a
payment paid or refused. Processing the same notification twice has no further effect. A payment
confirmed for a file that no longer waited for it is invoiced, then refunded through the provider
with a credit note. The local sandbox provider (public_forms/sandbox.py) speaks the same protocol,
refunds included.
"""
import hashlib
import hmac
import json
import secrets
import urllib.parse
import urllib.request
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app

from models import Payment, PaymentNotification, PaymentStatus, PRODUCTS, Tariff, db
from models import clock
from services import audit, invoices, outbox
from services.errors import PaymentError

#: The fields a notification carries besides its signature.
NOTIFICATION_FIELDS = ("reference", "amount", "currency", "status", "transaction")
#: The longest notification read (a real one is a few hundred bytes), and the longest value one of its fields may hold.
MAX_NOTIFICATION_BYTES = 4096
MAX_FIELD_LENGTH = 255
#: The fields of a refund request, and those the provider answers with besides its signature.
REFUND_REQUEST_FIELDS = ("reference", "transaction", "amount", "currency")
REFUND_ANSWER_FIELDS = (*REFUND_REQUEST_FIELDS, "status", "refund")
#: Why the money goes back, as the credit note and the audit log say it.
REFUND_REASON = "paiement reçu pour une demande qui ne l'attendait plus, remboursé"


def sign(fields, secret=None):
    """Return the HMAC-SHA256 of the fields (sorted key=value pairs joined by &), hex-encoded."""
    secret = secret if secret is not None else current_app.config["PAYMENT_SECRET"]
    message = "&".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "signature")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signed(fields, signature):
    """Is this the signature of these fields? Compared in constant time, as bytes: any text may come in."""
    return hmac.compare_digest((signature or "").encode(), sign(fields).encode())


def price(product, day=None):
    """Return (amount excluding VAT, VAT rate, amount charged in cents) of a product on a day."""
    tariff = Tariff.in_force(product, day or clock.today())
    if tariff is None:
        raise PaymentError(f"Aucun tarif n'est en vigueur pour « {PRODUCTS.get(product, product)} » : contactez IN Groupe.")
    ttc = (tariff.amount_ht * (1 + tariff.vat_rate / 100)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return tariff.amount_ht, tariff.vat_rate, int(ttc * 100)


def checkout(dossier, user, product, description=None):
    """Return the payment of a file: the one still pending, else a new one at the price in force today.

    Reusing the pending payment means one reference per file and product: a driver who abandoned
    the provider's page and pays again cannot be charged twice.
    """
    pending = Payment.get_or_none(Payment.dossier == dossier, Payment.product == product, Payment.status == PaymentStatus.PENDING)
    if pending is not None:
        return pending
    amount_ht, vat_rate, cents = price(product)
    with db.atomic():
        payment = Payment.create(
            reference="P" + secrets.token_hex(10).upper(), dossier=dossier, user=user, product=product,
            description=description or PRODUCTS[product], amount_ht=amount_ht, vat_rate=vat_rate, amount_cents=cents,
        )
        type(dossier).update(price_ht=amount_ht, vat_rate=vat_rate).where(type(dossier).id == dossier.id).execute()
    return payment


def freeze_price(dossier, product):
    """Freeze on a file the price of a product in force today, for whoever is invoiced later (none: left empty)."""
    tariff = Tariff.in_force(product, clock.today())
    if tariff is not None:
        type(dossier).update(price_ht=tariff.amount_ht, vat_rate=tariff.vat_rate).where(
            type(dossier).id == dossier.id).execute()


def return_url(reference):
    """Return the page the provider sends the driver back to after paying (the only one the sandbox goes to)."""
    return outbox.public_url("payments.back", reference=reference)


def notify_url():
    """Return where the provider posts its notifications (the only address the sandbox posts to)."""
    return outbox.public_url("payments.notification")


def hosted_page_url(payment):
    """Return where to send the driver to pay: the provider's hosted page, with the signed order."""
    fields = {
        "reference": payment.reference,
        "amount": str(payment.amount_cents),
        "currency": "EUR",
        "return_url": return_url(payment.reference),
        "notify_url": notify_url(),
    }
    fields["signature"] = sign(fields)
    base = current_app.config["PAYMENT_PROVIDER_URL"] or outbox.public_url("sandbox.pay")
    return base + "?" + urllib.parse.urlencode(fields)


def _refuse(payload, reason):
    PaymentNotification.create(payload=json.dumps(payload, sort_keys=True), accepted=False, reason=reason)
    current_app.logger.warning("Notification de paiement refusée (%s) : %s", reason, json.dumps(payload)[:1000])
    raise PaymentError(reason)


def refuse_unreadable(body):
    """Log and refuse a notification body that is not a set of fields (too big, not UTF-8, not an object)."""
    _refuse({"corps illisible": body[:MAX_NOTIFICATION_BYTES].decode("utf-8", "replace")}, "notification illisible")


def _readable(value):
    """Is a field's value text a signature can cover: a string or an integer, short, without control characters?"""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    text = str(value)
    return len(text) <= MAX_FIELD_LENGTH and text.isprintable()  # no NUL, no line break, no lone surrogate


def handle_notification(fields, on_paid):
    """Apply a provider notification; raise PaymentError (logged) for an unreadable one, a bad signature, reference or amount.

    A payment confirmed now is invoiced and handed to ``on_paid`` in the same transaction; when ``on_paid`` answers
    that its file no longer waited for it, the payment is refunded (after the commit) with a credit note.
    """
    if not isinstance(fields, dict) or not all(isinstance(key, str) and _readable(value) for key, value in fields.items()):
        payload = fields if isinstance(fields, dict) else {"corps illisible": fields}
        _refuse({str(key): repr(value)[:MAX_FIELD_LENGTH] for key, value in payload.items()}, "notification illisible")
    payload = {key: str(value) for key, value in fields.items()}
    if not signed({k: payload.get(k, "") for k in NOTIFICATION_FIELDS}, payload.get("signature")):
        _refuse(payload, "signature invalide")
    payment = Payment.get_or_none(Payment.reference == payload.get("reference"))
    if payment is None:
        _refuse(payload, "référence inconnue")
    if payload.get("amount") != str(payment.amount_cents) or payload.get("currency") != "EUR":
        _refuse(payload, "montant incorrect")
    status = PaymentStatus.PAID if payload.get("status") == "paid" else PaymentStatus.REFUSED
    invoice = None
    unexpected = False
    with db.atomic():
        # Only the first notification moves the payment; a replay changes nothing.
        moved = (
            Payment.update(status=status, settled_at=clock.now(), provider_reference=payload.get("transaction", ""))
            .where(Payment.id == payment.id, Payment.status == PaymentStatus.PENDING)
            .execute()
        )
        PaymentNotification.create(
            payload=json.dumps(payload, sort_keys=True), accepted=True, reason="appliquée" if moved else "déjà traitée"
        )
        if moved and status == PaymentStatus.PAID:
            payment = Payment.get_by_id(payment.id)
            invoice = invoices.issue_for_payment(payment)
            audit.record("Paiement confirmé", payment.reference, f"{payment.amount_cents / 100:.2f} €", user=payment.user)
            if not on_paid(payment):
                # The card is charged for nothing: the money goes back once this is committed.
                Payment.update(status=PaymentStatus.TO_REFUND).where(Payment.id == payment.id).execute()
                unexpected = True
    if invoice is not None:
        _render(invoice)  # after the commit: the sequence is not held while the PDF renders
    if unexpected:
        refund(payment)
    return Payment.get_by_id(payment.id)


def _render(invoice):
    """Render an invoice's PDF; a failure is logged and left to the invoices job (the notification stays applied)."""
    try:
        return invoices.render(invoice)
    except RuntimeError:
        current_app.logger.exception("Facture %s : PDF non produit, nouvel essai par la tâche « invoices »", invoice.id)
        return invoice


def send_notification(url, fields):
    """Post a notification server to server (what a provider does); used by the sandbox."""
    data = urllib.parse.urlencode(fields).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as response:
        return response.status


# --- Refunds ---------------------------------------------------------------------------------------------


def refund_url():
    """Return where refunds are asked for: the provider's refund service (PAYMENT_REFUND_URL), else the sandbox's."""
    if current_app.config["PAYMENT_PROVIDER_URL"]:
        return current_app.config["PAYMENT_REFUND_URL"]
    return outbox.public_url("sandbox.refund")


def request_refund(url, fields):
    """Post a signed refund request server to server; return the provider's answer (a JSON object)."""
    data = urllib.parse.urlencode(fields).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as response:
        return json.loads(response.read(MAX_NOTIFICATION_BYTES))


def _check_refund(answer, order):
    """Raise PaymentError unless the provider's answer is signed and says this payment was refunded."""
    if not isinstance(answer, dict) or not all(_readable(value) for value in answer.values()):
        raise PaymentError("réponse illisible")
    answer = {key: str(value) for key, value in answer.items()}
    if not signed({k: answer.get(k, "") for k in REFUND_ANSWER_FIELDS}, answer.get("signature")):
        raise PaymentError("réponse à la signature invalide")
    if any(answer.get(key) != order[key] for key in REFUND_REQUEST_FIELDS) or answer.get("status") != "refunded":
        raise PaymentError(f"remboursement refusé ({answer.get('status', '')})")
    if not answer.get("refund"):
        raise PaymentError("réponse sans référence de remboursement")
    return answer


def refund(payment):
    """Give back through the provider a payment whose file no longer waited for it, and cancel its invoice by a credit note.

    Return the credit note, or None when the provider could not refund now (logged; the « refunds » job asks again).
    The request names the payment, so a provider asked twice refunds once.
    """
    payment = Payment.get_by_id(payment.id)
    if payment.status != PaymentStatus.TO_REFUND:
        return None
    order = {"reference": payment.reference, "transaction": payment.provider_reference,
             "amount": str(payment.amount_cents), "currency": "EUR"}
    order["signature"] = sign(order)
    url = refund_url()
    try:
        if not url:
            raise PaymentError("aucune adresse de remboursement du prestataire (PAYMENT_REFUND_URL)")
        answer = _check_refund(request_refund(url, order), order)
    except (OSError, ValueError, PaymentError) as error:
        current_app.logger.error("Remboursement du paiement %s non effectué (%s) : nouvel essai par la tâche « refunds »",
                                 payment.reference, error)
        return None
    with db.atomic():
        moved = (
            Payment.update(status=PaymentStatus.REFUNDED, refunded_at=clock.now(), refund_reference=answer["refund"])
            .where(Payment.id == payment.id, Payment.status == PaymentStatus.TO_REFUND)
            .execute()
        )
        if not moved:  # another process recorded this refund first
            return None
        invoice = payment.invoices.first()
        note = invoice.credit_notes.first() or invoices.issue_credit_note(invoice, REFUND_REASON)
        audit.record("Paiement remboursé", payment.reference,
                     f"{payment.amount_cents / 100:.2f} € rendus sur la carte (remboursement {answer['refund']}) ; "
                     f"avoir {note.display_number} sur la facture {invoice.display_number}", user=payment.user)
    return _render(note)


def refund_pending():
    """Refund the payments still to refund (the provider was unreachable); return how many were refunded."""
    due = Payment.select().where(Payment.status == PaymentStatus.TO_REFUND).order_by(Payment.id)
    return sum(1 for payment in due if refund(payment))
