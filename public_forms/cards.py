"""« Mes cartes »: the driver's CQC cards, « pli non distribué » and the activation on receipt."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from models import REQUEST_FIELDS, Card, CardState, DocumentKind, Dossier, ProcedureCode, Product, Replacement, Role
from public_forms import Audience, account_required
from services import cards, dossiers, payments, uploads
from services.errors import Refused
from services.procedures.pnd import unpaid as unpaid_redispatch
from services.procedures.cqc import AddressForm

bp = Blueprint("cards", __name__, url_prefix="/mes-cartes")

#: The qualification each card category gives, as code 95 reads on the card (field 9).
LICENCE_CATEGORIES = {"Marchandises": "C1, C1E, C, CE", "Voyageurs": "D1, D1E, D, DE"}


def own_card(card_id):
    """Return the logged-in driver's card with this number, or 404."""
    return Card.get_or_none(Card.id == card_id, Card.user == current_user.id) or abort(404)


def _original_dossier_id(card):
    """Return the CQC request whose photo and signature the card carries (a replacement reproduces the card it replaces)."""
    dossier_id = card.dossier_id
    for _ in range(20):  # a chain of replacements, never a loop
        replacement = Replacement.get_or_none(Replacement.dossier == dossier_id) if dossier_id else None
        if replacement is None:
            break
        dossier_id = replacement.card.dossier_id
    return dossier_id


def images_of(card):
    """Return the photo (6) and signature (7) the card reproduces: the request's uploads that are images."""
    images = {}
    dossier_id = _original_dossier_id(card)
    for kind in (DocumentKind.PHOTO, DocumentKind.SIGNATURE):
        document = uploads.current_document(dossier_id, kind) if dossier_id else None
        images[kind.value] = document if document is not None and document.content_type.startswith("image/") else None
    return images


@bp.route("/")
@account_required(Audience.DRIVER)
def index():
    """Show each card as it looks, with its state and what the driver can do."""
    items = list(Card.select().where(Card.user == current_user.id).order_by(Card.created_at.desc(), Card.id.desc()))
    return render_template(
        "public/cards/index.html", cards=[(card, images_of(card)) for card in items], form=FlaskForm(),
        categories=LICENCE_CATEGORIES,
    )


@bp.route("/<int:card_id>/activer", methods=["POST"])
@account_required(Audience.DRIVER)
def activate(card_id):
    """Activate a card the driver received (« Activer ma carte »)."""
    card = own_card(card_id)
    if FlaskForm().validate_on_submit():
        try:
            cards.move(card, "activate", user=current_user._get_current_object(), comment="Carte activée par le titulaire")
        except Refused as refusal:
            flash(refusal.message, "error")
        else:
            flash(f"Votre carte n° {card.number} est activée.", "success")
    return redirect(url_for("cards.index"))


def _current_delivery(card, draft):
    """Return the address fields to start Solution 2 from: the unpaid draft's, else the request's that sent the card."""
    source = draft if draft is not None else (Dossier.get_by_id(card.dossier_id) if card.dossier_id else None)
    source = dossiers.data_of(source) if source is not None else None
    return {name: getattr(source, name, "") for name in REQUEST_FIELDS} if source is not None else {}


@bp.route("/<int:card_id>/pli-non-distribue", methods=["GET", "POST"])
@account_required(Audience.DRIVER)
def pnd(card_id):
    """« pli non distribué »: Solution 1 confirms the address; Solution 2 gives a new one and pays the re-dispatch fee."""
    card = own_card(card_id)
    if card.state != CardState.PND:
        return redirect(url_for("cards.index"))
    user = current_user._get_current_object()
    draft = unpaid_redispatch(card)
    form = FlaskForm()
    solution_2 = request.method == "POST" and request.form.get("solution") == "2"
    address = AddressForm(formdata=None if not solution_2 else request.form, data=_current_delivery(card, draft))
    fee = None
    try:
        fee = payments.price(Product.REEXPEDITION)[2] / 100
    except Refused as refusal:
        fee_error = refusal.message
    else:
        fee_error = None
    if solution_2:
        if address.validate() and fee is not None:
            fields = {name: address[name].data for name in REQUEST_FIELDS}
            try:
                # An unpaid re-dispatch is paid again with the address as now typed.
                payment = dossiers.validate(dossiers.start(ProcedureCode.CQC_PND, user, card=card, address=fields), user)
            except Refused as refusal:
                flash(refusal.message, "error")
            else:
                return redirect(payments.hosted_page_url(payment))
    elif form.validate_on_submit():
        try:
            cards.confirm_address(card, user)
            if draft is not None:  # Solution 2 started but not paid: it no longer applies
                dossiers.cancel(draft, user, comment="Adresse confirmée (solution 1) : réexpédition à la même adresse")
        except Refused as refusal:
            flash(refusal.message, "error")
        else:
            flash("Votre adresse est confirmée : votre carte va vous être réexpédiée à cette même adresse.", "success")
        return redirect(url_for("cards.index"))
    return render_template("public/cards/pnd.html", card=card, form=form, address=address, fee=fee, fee_error=fee_error,
                           draft=draft)
