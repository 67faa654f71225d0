"""Card payments: the provider's signed notification, and the page the driver comes back to."""
import datetime as dt
import json
import urllib.parse

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from models import Payment, PaymentStatus, RequestState, Product
from models import clock
from public_forms import account_required
from services import dossiers, payments
from services.errors import Refused

bp = Blueprint("payments", __name__)

#: The return page reloads itself this often while the provider's confirmation is awaited …
REFRESH_SECONDS = 3
#: … for this long after the payment started (past it, the payment was most likely abandoned).
REFRESH_FOR = dt.timedelta(minutes=10)
#: Files still waiting for their payment: only those can be paid again.
PAYABLE_STATES = (RequestState.BROUILLON, RequestState.ATTENTE_COMPLEMENT)
#: What happens once the payment is confirmed, per product.
NEXT_STEPS = {
    Product.CQC_REMPLACEMENT: "Votre demande de remplacement est envoyée à IN Groupe. Votre carte sera reproduite à "
                        "l'identique sous un nouveau numéro ; vous êtes notifié(e) à chaque étape.",
    Product.REEXPEDITION: "Votre carte est réexpédiée à votre nouvelle adresse ; vous êtes notifié(e) de son expédition.",
}
DEFAULT_NEXT_STEP = "Votre demande est envoyée à IN Groupe pour traitement ; vous êtes notifié(e) à chaque étape."


@bp.record_once
def _exempt_notification(state):
    # The provider posts from its servers, without session or CSRF token: the HMAC signature is its proof.
    state.app.extensions["csrf"].exempt(notification)


@bp.route("/paiement/notification", methods=["POST"])
def notification():
    """Apply the provider's signed notification: 200 « OK » when applied or already applied, 400 and why otherwise."""
    try:
        dossiers.settle_payment(_notification_fields())
    except Refused as error:
        return str(error), 400, {"Content-Type": "text/plain; charset=utf-8"}
    return "OK", 200, {"Content-Type": "text/plain; charset=utf-8"}


def _notification_fields():
    """Return the fields of the notification posted (form-encoded or JSON); refuse (logged) a body that holds none."""
    if (request.content_length or 0) > payments.MAX_NOTIFICATION_BYTES:
        payments.refuse_unreadable(b"(%d octets)" % request.content_length)
    body = request.stream.read(payments.MAX_NOTIFICATION_BYTES + 1)  # a body sent without its length, too
    try:
        if len(body) > payments.MAX_NOTIFICATION_BYTES:
            raise ValueError("trop volumineuse")
        text = body.decode("utf-8")
        if request.is_json:
            return json.loads(text) if text.strip() else {}
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=50)
        return {name: value for name, value in reversed(pairs)}  # the first value of a repeated field, as a form reads it
    except (ValueError, RecursionError):  # too big, not UTF-8, not JSON, not form-encoded, nested beyond reason
        payments.refuse_unreadable(body)


def _own_payment(reference):
    """Return the logged-in holder's payment with this reference, or 404."""
    return Payment.get_or_none(Payment.reference == reference, Payment.user == current_user.id) or abort(404)


def can_pay_again(payment):
    """May the holder pay again for this payment's file (refused or abandoned, file still awaiting payment)?"""
    if payment.status == PaymentStatus.PAID or payment.dossier.state not in PAYABLE_STATES:
        return False
    return not Payment.select().where(Payment.dossier == payment.dossier_id, Payment.status == PaymentStatus.PAID).exists()


@bp.route("/paiement/retour/<reference>")
@account_required()
def back(reference):
    """Show the holder where the payment stands: accepted, refused, or awaiting the provider's confirmation."""
    payment = _own_payment(reference)
    refresh = payment.status == PaymentStatus.PENDING and clock.now() - payment.created_at < REFRESH_FOR
    invoice = payment.invoices.first()
    page = render_template(
        "public/payments/back.html",
        payment=payment,
        invoice=invoice,
        credit_note=invoice.credit_notes.first() if invoice else None,
        next_step=NEXT_STEPS.get(payment.product, DEFAULT_NEXT_STEP),
        can_pay_again=can_pay_again(payment),
        refresh=REFRESH_SECONDS if refresh else None,
    )
    # The Refresh header reloads the page without JavaScript until the notification arrives.
    return page, 200, ({"Refresh": str(REFRESH_SECONDS)} if refresh else {})


@bp.route("/paiement/retour/<reference>/reprendre", methods=["POST"])
@account_required()
def pay_again(reference):
    """Start a new payment for the same file and send the holder to the provider's page."""
    payment = _own_payment(reference)
    if not can_pay_again(payment):
        flash("Cette demande n'attend plus de paiement.", "info")
        return redirect(url_for(".back", reference=reference))
    try:
        new = payments.checkout(payment.dossier, current_user._get_current_object(), payment.product, payment.description)
    except Refused as error:
        flash(str(error), "error")
        return redirect(url_for(".back", reference=reference))
    return redirect(payments.hosted_page_url(new))
