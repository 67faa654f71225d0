"""The local sandbox payment provider: a hosted card page speaking the real provider's protocol.

It exists only while PAYMENT_PROVIDER_URL is empty (development and tests). Like a provider, it
checks the order's signature, takes a test card, posts the signed notification server to
server, then sends the browser back; and it refunds a payment on a signed request.

Unlike a provider, it only ever talks to this application: an order whose notify_url or
return_url is not the application's own is refused, and the addresses it posts to and sends the
browser to are built here from the payment's reference, never read from the order.
"""
import hashlib
import hmac
import secrets
from decimal import Decimal

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Regexp, ValidationError

from services import payments

bp = Blueprint("sandbox", __name__, url_prefix="/bac-a-sable")

#: The signed fields of a payment order (services.payments.hosted_page_url).
ORDER_FIELDS = ("reference", "amount", "currency", "return_url", "notify_url")
#: Test cards and what the bank answers: the page lists them.
TEST_CARDS = {"4111111111111111": "paid", "4000000000000002": "refused"}


def spaced(number):
    """Return a card number by groups of four (4111 1111 1111 1111)."""
    return " ".join(number[i:i + 4] for i in range(0, len(number), 4))


def _known_card(form, field):
    number = "".join((field.data or "").split())
    if number not in TEST_CARDS:
        raise ValidationError(
            "Carte de test inconnue : utilisez " + " ou ".join(spaced(n) for n in TEST_CARDS) + "."
        )
    field.data = number


def _future_month(form, field):
    month = int(field.data[:2]) if (field.data or "")[:2].isdigit() else 0
    if not 1 <= month <= 12:
        raise ValidationError("Mois invalide : indiquez la date d'expiration au format MM/AA.")


class CardForm(FlaskForm):
    number = StringField("Numéro de carte", [DataRequired("Indiquez le numéro de la carte."), _known_card])
    expiry = StringField("Date d'expiration (MM/AA)", [
        DataRequired("Indiquez la date d'expiration."),
        Regexp(r"^\d{2}/\d{2}$", message="Indiquez la date d'expiration au format MM/AA."),
        _future_month,
    ])
    cvc = StringField("Cryptogramme visuel", [
        DataRequired("Indiquez le cryptogramme visuel."),
        Regexp(r"^\d{3}$", message="Le cryptogramme visuel a 3 chiffres (au dos de la carte)."),
    ])


@bp.record_once
def _exempt_refund(state):
    # The merchant asks for a refund from its servers, without session or CSRF token: the HMAC signature is its proof.
    state.app.extensions["csrf"].exempt(refund)


@bp.before_request
def _only_without_provider():
    # With a real provider configured, the sandbox does not exist.
    if current_app.config["PAYMENT_PROVIDER_URL"]:
        abort(404)


def _order():
    """Return the payment order of the query string, or None when it is incomplete, wrongly signed or not for this app."""
    order = {name: request.args.get(name, "") for name in ORDER_FIELDS}
    if not all(order.values()) or not order["amount"].isdigit() or order["currency"] != "EUR":
        return None
    if not payments.signed(order, request.args.get("signature")):
        return None
    # Even a validly signed order may not send the sandbox's POST or the browser anywhere else (SSRF, open redirect).
    if order["notify_url"] != payments.notify_url() or order["return_url"] != payments.return_url(order["reference"]):
        return None
    return order


@bp.route("/paiement", methods=["GET", "POST"])
def pay():
    """Show the hosted card page of a signed order; on « Payer », notify the merchant and send the browser back."""
    order = _order()
    if order is None:
        current_app.logger.warning("Bac à sable : ordre de paiement refusé (%s)", request.args.get("reference", ""))
        return render_template("public/sandbox/invalid.html"), 400
    back = payments.return_url(order["reference"])
    if request.method == "POST" and request.form.get("action") == "cancel":
        # An abandoned payment: no notification, the merchant's payment stays pending.
        return redirect(back)
    form = CardForm()
    if form.validate_on_submit():
        fields = {
            "reference": order["reference"],
            "amount": order["amount"],
            "currency": "EUR",
            "status": TEST_CARDS[form.number.data],
            "transaction": "SBX" + secrets.token_hex(8).upper(),
        }
        fields["signature"] = payments.sign(fields)
        try:
            payments.send_notification(payments.notify_url(), fields)
        except Exception as error:  # the merchant refused or is unreachable: its return page still says where things stand
            current_app.logger.warning("Bac à sable : notification %s non délivrée (%s)", order["reference"], error)
        return redirect(back)
    return render_template(
        "public/sandbox/pay.html", form=form, order=order, amount=Decimal(order["amount"]) / 100,
        test_cards=[(spaced(number), status) for number, status in TEST_CARDS.items()],
    )


@bp.route("/remboursement", methods=["POST"])
def refund():
    """Refund a payment on the merchant's signed request: a signed JSON answer, the same refund for the same payment."""
    request_fields = {name: request.form.get(name, "") for name in payments.REFUND_REQUEST_FIELDS}
    well_formed = request_fields["transaction"] and request_fields["amount"].isdigit() and request_fields["currency"] == "EUR"
    if not well_formed or not payments.signed(request_fields, request.form.get("signature")):
        current_app.logger.warning("Bac à sable : demande de remboursement refusée (%s)", request_fields["reference"][:40])
        return jsonify(status="refused"), 400
    # Named after the transaction: asked twice, the sandbox answers the same refund, as a provider does.
    digest = hmac.new(current_app.config["PAYMENT_SECRET"].encode(), request_fields["transaction"].encode(), hashlib.sha256)
    answer = {**request_fields, "status": "refunded", "refund": "SBXR" + digest.hexdigest()[:16].upper()}
    answer["signature"] = payments.sign(answer)
    return jsonify(answer)
