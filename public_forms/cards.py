"""« Mes cartes »: the driver's CQC cards, « pli non distribué » and the activation on receipt."""
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from models import Card, CardState, DocumentKind, Role
from public_forms import account_required
from services import cards, transitions
from services import requests as cqc_requests

bp = Blueprint("cards", __name__, url_prefix="/mes-cartes")

#: The qualification each card category gives, as code 95 reads on the card (field 9).
LICENCE_CATEGORIES = {"Marchandises": "C1, C1E, C, CE", "Voyageurs": "D1, D1E, D, DE"}


def own_card(card_id):
    """Return the logged-in driver's card with this number, or 404."""
    card = Card.get_or_none(Card.id == card_id, Card.user == current_user.id)
    if card is None:
        abort(404)
    return card


def images_of(card):
    """Return the photo (6) and signature (7) the card reproduces: the request's uploads that are images."""
    images = {}
    for kind in (DocumentKind.PHOTO, DocumentKind.SIGNATURE):
        document = cqc_requests.current_document(card.dossier_id, kind) if card.dossier_id else None
        images[kind.value] = document if document is not None and document.content_type.startswith("image/") else None
    return images


@bp.route("/")
@account_required(Role.DRIVER)
def index():
    """Show each card as it looks, with its state and what the driver can do."""
    items = list(Card.select().where(Card.user == current_user.id).order_by(Card.created_at.desc(), Card.id.desc()))
    return render_template(
        "public/cards/index.html", cards=[(card, images_of(card)) for card in items], form=FlaskForm(),
        categories=LICENCE_CATEGORIES,
    )


@bp.route("/<int:card_id>/activer", methods=["POST"])
@account_required(Role.DRIVER)
def activate(card_id):
    """Activate a card the driver received (« Activer ma carte »)."""
    card = own_card(card_id)
    if FlaskForm().validate_on_submit():
        try:
            cards.move(card, "activate", user=current_user._get_current_object(), comment="Carte activée par le titulaire")
        except transitions.TransitionError as refusal:
            flash(str(refusal), "error")
        else:
            flash(f"Votre carte n° {card.number} est activée.", "success")
    return redirect(url_for("cards.index"))


@bp.route("/<int:card_id>/pli-non-distribue", methods=["GET", "POST"])
@account_required(Role.DRIVER)
def pnd(card_id):
    """« pli non distribué »: Solution 1 confirms the address and the card is sent again to it."""
    card = own_card(card_id)
    if card.state != CardState.PND:
        return redirect(url_for("cards.index"))
    form = FlaskForm()
    if form.validate_on_submit():
        try:
            cards.confirm_address(card, current_user._get_current_object())
        except transitions.TransitionError as refusal:
            flash(str(refusal), "error")
        else:
            flash("Votre adresse est confirmée : votre carte va vous être réexpédiée à cette même adresse.", "success")
        return redirect(url_for("cards.index"))
    return render_template("public/cards/pnd.html", card=card, form=form)
