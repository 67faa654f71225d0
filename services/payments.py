"""Card payments through a provider adapter.

The driver is sent to the provider's hosted page; the provider's signed server-to-server
notification (HMAC-SHA256 over the fields, secret PAYMENT_SECRET) is the only thing that marks a
payment paid or refused. Processing the same notification twice has no further effect. The
local sandbox provider (public_forms/sandbox.py) speaks the same protocol.
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


def sign(fields, secret=None):
    """Return the HMAC-SHA256 of the fields (sorted key=value pairs joined by &), hex-encoded."""
    secret = secret if secret is not None else current_app.config["PAYMENT_SECRET"]
    message = "&".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "signature")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


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


def hosted_page_url(payment):
    """Return where to send the driver to pay: the provider's hosted page, with the signed order."""
    fields = {
        "reference": payment.reference,
        "amount": str(payment.amount_cents),
        "currency": "EUR",
        "return_url": outbox.public_url("payments.back", reference=payment.reference),
        "notify_url": outbox.public_url("payments.notification"),
    }
    fields["signature"] = sign(fields)
    base = current_app.config["PAYMENT_PROVIDER_URL"] or outbox.public_url("sandbox.pay")
    return base + "?" + urllib.parse.urlencode(fields)


def _refuse(payload, reason):
    PaymentNotification.create(payload=json.dumps(payload, sort_keys=True), accepted=False, reason=reason)
    current_app.logger.warning("Notification de paiement refusée (%s) : %s", reason, payload)
    raise PaymentError(reason)


def handle_notification(fields, on_paid):
    """Apply a provider notification; raise PaymentError (logged) for a bad signature, reference or amount.

    A payment confirmed now is invoiced and handed to ``on_paid`` in the same transaction.
    """
    payload = {key: str(value) for key, value in fields.items()}
    if not hmac.compare_digest(payload.get("signature", ""), sign({k: payload.get(k, "") for k in NOTIFICATION_FIELDS})):
        _refuse(payload, "signature invalide")
    payment = Payment.get_or_none(Payment.reference == payload.get("reference"))
    if payment is None:
        _refuse(payload, "référence inconnue")
    if payload.get("amount") != str(payment.amount_cents) or payload.get("currency") != "EUR":
        _refuse(payload, "montant incorrect")
    status = PaymentStatus.PAID if payload.get("status") == "paid" else PaymentStatus.REFUSED
    invoice = None
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
            on_paid(payment)
            audit.record("Paiement confirmé", payment.reference, f"{payment.amount_cents / 100:.2f} €", user=payment.user)
    if invoice is not None:
        invoices.render(invoice)  # after the commit: the sequence is not held while the PDF renders
    return Payment.get_by_id(payment.id)


def send_notification(url, fields):
    """Post a notification server to server (what a provider does); used by the sandbox."""
    data = urllib.parse.urlencode(fields).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as response:
        return response.status
