"""« Mes cartes »: a driver's cards (« pli non distribué », the activation on receipt); a company's tachograph cards."""
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from peewee import JOIN, SQL, fn

from models import (
    DECLARED_MISSING, REQUEST_FIELDS, Card, CardEvent, CardKind, CardState, Document, DocumentKind, Dossier, Driver,
    Organisation, ProcedureCode, Product, Replacement, User, with_total,
)
from models.prepared import prepared
from models import clock, deadlines
from public_forms import COMPANY, Audience, account_required, audience_of, menu_page
from public_forms.paging import listed, page_of
from services import cards, dossiers, payments
from services.errors import Refused
from services.procedures.pnd import unpaid as unpaid_redispatch
from services.procedures.cqc import AddressForm

bp = Blueprint("cards", __name__, url_prefix="/mes-cartes")

#: The qualification each card category gives, as code 95 reads on the card (field 9).
LICENCE_CATEGORIES = {"Marchandises": "C1, C1E, C, CE", "Voyageurs": "D1, D1E, D, DE"}


#: Cards listed per page for an organisation.
PAGE_SIZE = 50


def own_card(card_id):
    """Return the logged-in driver's card with this number, or 404."""
    return Card.get_or_none(Card.id == card_id, Card.user == current_user.id) or abort(404)


def _tachographs_ordered_for(user_id):
    """The tachograph driver cards companies ordered for a driver: same licence number and birth date."""
    return (Card.select()
            .join(Driver, on=(Card.licence_number == Driver.licence_number) & (Card.birth_date == Driver.birth_date))
            .where(Driver.user == user_id, Card.kind == CardKind.TACHY_CONDUCTEUR))


@prepared
def _tachograph_cards_of(user_id):
    # The company that ordered each card is shown with it.
    return (_tachographs_ordered_for(user_id).select_extend(Organisation.id, Organisation.name)
            .switch(Card).join(Organisation, on=(Card.organisation == Organisation.id), attr="organisation")
            .order_by(Card.created_at.desc(), Card.id.desc()))


def tachograph_cards_of(user):
    """Return the tachograph driver cards companies ordered for this driver (same licence number and birth date)."""
    return _tachograph_cards_of.rows(user.id)


@prepared
def _cards_of(user_id, limit, offset):
    # A replacement card reproduces the card it replaced: each card comes with that card's file (its origin's first step).
    replaced = Card.alias("replaced")
    replaced_file = (Replacement.select(replaced.dossier).join(replaced, on=(Replacement.card == replaced.id))
                     .where(Replacement.dossier == Card.dossier).limit(1))
    # Whether companies ordered tachograph cards for the driver comes along: most never had one, and skip their query.
    ordered = fn.EXISTS(_tachographs_ordered_for(user_id).select(SQL("1")))
    return (with_total(Card.select(Card, replaced_file.alias("replaced_file_id"), ordered.alias("has_tachographs")))
            .where(Card.user == user_id).order_by(Card.created_at.desc(), Card.id.desc()).limit(limit).offset(offset))


@prepared
def _count_cards_of(user_id):
    return Card.select(fn.COUNT(Card.id)).where(Card.user == user_id)


@prepared
def _histories(card_ids):
    # Who made each step: the holder's name is read with it (staff steps read « IN Groupe »).
    return (CardEvent.select(CardEvent, User)
            .join(User, JOIN.LEFT_OUTER, on=(CardEvent.user == User.id), attr="user")
            .where(CardEvent.card.in_(card_ids)).order_by(CardEvent.at, CardEvent.id))


def histories_of(cards):
    """Return {card id: its history, oldest first} (one query for the page's cards)."""
    histories = {card.id: [] for card in cards}
    for step in _histories.rows([card.id for card in cards]) if cards else []:
        histories[step.card_id].append(step)
    return histories


@prepared
def _replaced_cards(dossier_ids):
    return Replacement.select(Replacement, Card).join(Card).where(Replacement.dossier.in_(dossier_ids))


@prepared
def _photos_and_signatures(dossier_ids):
    return (Document.select()
            .where(Document.dossier.in_(dossier_ids), Document.replaced_at.is_null(), Document.purged_at.is_null(),
                   Document.kind.in_([DocumentKind.PHOTO, DocumentKind.SIGNATURE]))
            .order_by(Document.id))


def _original_requests(cards):
    """Return {card id: the CQC request whose photo and signature it carries} (a replacement reproduces the card it
    replaces). The cards come with the file of the card each replaced (_cards_of); a replacement of a replacement
    costs a query per further level, whatever the number of cards."""
    origin = {card.id: card.replaced_file_id or card.dossier_id for card in cards if card.dossier_id}
    moving = {card.id for card in cards if card.dossier_id and card.replaced_file_id}
    for _ in range(20):  # a chain of replacements, never a loop
        if not moving:
            break
        hops = {r.dossier_id: r.card.dossier_id for r in _replaced_cards.rows(sorted({origin[c] for c in moving}))}
        moving = {card_id for card_id in moving if origin[card_id] in hops}
        origin.update({card_id: hops[origin[card_id]] for card_id in moving})
    return origin


def images_for(cards):
    """Return {card id: its photo (6) and signature (7)}: the original request's current uploads that are images."""
    origin = _original_requests(cards)
    documents = {}
    for document in _photos_and_signatures.rows(list(origin.values())):
        if document.content_type.startswith("image/"):
            documents[(document.dossier_id, document.kind)] = document
    return {card.id: {kind.value: documents.get((origin.get(card.id), kind.value))
                      for kind in (DocumentKind.PHOTO, DocumentKind.SIGNATURE)} for card in cards}


@bp.route("/")
@menu_page("cards.index")
def index():
    """Show a page of cards, each as it looks with its state, its history and what the driver can do; a company's
    cards as a list."""
    if audience_of(current_user) in COMPANY:
        return organisation_cards()
    page, items = listed(lambda limit, offset: _cards_of.rows(current_user.id, limit, offset),
                         lambda: _count_cards_of.scalar(current_user.id))
    images = images_for(items)
    histories = histories_of(items)
    return render_template(
        "public/cards/index.html", cards=[(card, images[card.id], histories[card.id]) for card in items],
        form=FlaskForm(), categories=LICENCE_CATEGORIES, page=page,
        tachographs=tachograph_cards_of(current_user) if not items or items[0].has_tachographs else [],
        declared=DECLARED_MISSING,
    )


def organisation_cards():
    """The company's tachograph cards: kind, holder, state, expiry; the renewal offered in their last 3 months."""
    query = (Card.select().where(Card.organisation == current_user.organisation_id)
             .order_by(Card.expires_on, Card.id))
    page = page_of(query.count(), PAGE_SIZE)
    return render_template(
        "public/cards/organisation.html", cards=list(query.limit(page.size).offset(page.offset)), form=FlaskForm(),
        page=page, renewable=renewable,
    )


def renewable(card):
    """May the organisation ask for this card's renewal now (its last 3 months, still held)?"""
    return (card.state in (CardState.LIVREE, CardState.ACTIVEE)
            and deadlines.renewal_opens_on(card.expires_on) <= clock.today() <= card.expires_on)


@bp.route("/<int:card_id>/confirmer-adresse", methods=["POST"])
@account_required(*COMPANY)
def confirm_address(card_id):
    """« pli non distribué » of a company's card: the address is right; the card is sent again to it."""
    card = Card.get_or_none(Card.id == card_id, Card.organisation == current_user.organisation_id) or abort(404)
    if FlaskForm().validate_on_submit():
        try:
            cards.confirm_address(card, current_user._get_current_object())
        except Refused as refusal:
            flash(refusal.message, "error")
        else:
            flash(f"L'adresse est confirmée : la carte n° {card.number} va être réexpédiée par lettre recommandée.",
                  "success")
    return redirect(url_for("cards.index"))


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
