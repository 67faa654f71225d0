"""Replacements of a CQC for loss, theft or a defect: three procedures reproducing the card under a new number."""
import uuid

from wtforms import BooleanField, SelectMultipleField, StringField, TextAreaField, ValidationError
from wtforms.validators import DataRequired
from wtforms.widgets import CheckboxInput, ListWidget

from models import (
    DECLARED_MISSING, Anomaly, REQUEST_FIELDS, Card, CardEvent, CardState, DocumentKind, Dossier, ProcedureCode, Product,
    Replacement, ReplacementReason, RequestState, clock, db,
)
from services import audit, cards, payments, transitions
from services import fields as f
from services.errors import PaymentError, Refused
from services.procedures.base import Declaration, Step
from services.uploads import current_document

CODES = {
    ReplacementReason.PERTE: ProcedureCode.CQC_PERTE,
    ReplacementReason.VOL: ProcedureCode.CQC_VOL,
    ReplacementReason.QUALITE: ProcedureCode.CQC_QUALITE,
}
REASON_LABELS = {ReplacementReason.PERTE: "Perte", ReplacementReason.VOL: "Vol", ReplacementReason.QUALITE: "Qualité"}
#: Elements of a card a driver may declare defective.
DEFECTS = [
    "Photo", "Nom ou prénom", "Date ou lieu de naissance", "Numéro de permis de conduire", "Dates de validité",
    "Catégorie (Marchandises / Voyageurs)", "Signature", "Carte abîmée ou illisible",
]
#: Cards a driver can have replaced: a card declared lost or stolen stays so after a refused replacement, and is
#: replaced only for loss or theft.
REPLACEABLE = (CardState.LIVREE, CardState.ACTIVEE, *DECLARED_MISSING)
#: Who is at fault for a defect, as staff decide after receiving the card.
FAULTS = {"ingroupe": "Erreur imputée à IN Groupe", "conducteur": "Erreur imputée au conducteur"}
#: Where the driver posts a defective card (printed on the return coupon).
RETURN_ADDRESS = ["IN Groupe – Service Qualité CQC", "Rue des Frères Beaumont", "59128 Flers-en-Escrebieux"]
#: Labels of the billing address fields.
BILLING_FIELDS = {
    "billing_name": "Nom ou raison sociale",
    "billing_address": "Adresse de facturation",
    "billing_postal_code": "Code postal de facturation",
    "billing_city": "Commune de facturation",
}
#: The longest free texts a driver may type.
TEXT_MAX = 1000


# --- The forms of the steps -------------------------------------------------------------------------


class LossForm(f.Form):
    """Perte / Vol: the declaration and the commitment to give the card back if found."""

    def __init__(self, *args, obj=None, **kwargs):
        super().__init__(*args, obj=obj, **kwargs)
        if obj is not None:
            self.commitment.label.text = commitment_label(obj.reason)

    circumstances = TextAreaField("Circonstances (facultatif)", [f.max_length(TEXT_MAX)], filters=[f.strip])
    commitment = BooleanField(
        "Je déclare la perte de ma carte et je m'engage à la restituer si je venais à la retrouver",
        [DataRequired(message="Cochez la case pour faire votre déclaration et vous engager à restituer votre carte si vous la retrouvez.")],
    )


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        # A value outside the list is ignored rather than reported: only the known defects are kept.
        self.data = [value for value in self.data or [] if value in dict(self.choices)]


def at_least_one(form, field):
    if not field.data:
        raise ValidationError("Cochez au moins un élément en défaut.")


class DefectsField(CheckboxList):
    """The defects, stored comma-separated in one column."""

    def process_data(self, value):
        super().process_data([d.strip() for d in (value or "").split(",") if d.strip()] if isinstance(value, str) else value)

    def populate_obj(self, obj, name):
        setattr(obj, name, ",".join(self.data or []))


class DefectsForm(f.Form):
    """Qualité: the defective elements (at least one) and a free description."""

    defects = DefectsField("Éléments en défaut", choices=[(d, d) for d in DEFECTS], validators=[at_least_one])
    circumstances = TextAreaField("Description du défaut (facultatif)", [f.max_length(TEXT_MAX)], filters=[f.strip])


def _address_field(label, *checks):
    return StringField(label, list(checks), filters=[f.strip])


class AddressesForm(f.Form):
    delivery_name = _address_field(REQUEST_FIELDS["delivery_name"], f.required(), f.max_length(120))
    delivery_address = _address_field(REQUEST_FIELDS["delivery_address"], f.required(), f.max_length(200))
    delivery_address_extra = _address_field(REQUEST_FIELDS["delivery_address_extra"], f.max_length(200))
    delivery_postal_code = _address_field(REQUEST_FIELDS["delivery_postal_code"], f.required(), f.postal_code)
    delivery_city = _address_field(REQUEST_FIELDS["delivery_city"], f.required(), f.max_length(120))
    billing_name = _address_field(BILLING_FIELDS["billing_name"], f.required(), f.max_length(120))
    billing_address = _address_field(BILLING_FIELDS["billing_address"], f.required(), f.max_length(200))
    billing_postal_code = _address_field(BILLING_FIELDS["billing_postal_code"], f.required(), f.postal_code)
    billing_city = _address_field(BILLING_FIELDS["billing_city"], f.required(), f.max_length(120))


def commitment_label(reason):
    what = "le vol" if reason == ReplacementReason.VOL else "la perte"
    return f"Je déclare {what} de ma carte et je m'engage à la restituer si je venais à la retrouver"


ADDRESSES = Step("adresses", "Mes adresses de livraison et de facturation", "adresses", form=AddressesForm)
SUMMARY = Step("recapitulatif", "Récapitulatif", "recapitulatif")
STEPS = {
    ReplacementReason.PERTE: (Step("declaration", "Ma déclaration", "declaration", form=LossForm), ADDRESSES, SUMMARY),
    ReplacementReason.VOL: (
        Step("declaration", "Ma déclaration", "declaration", form=LossForm),
        Step("declaration_vol", "Ma déclaration de vol", "upload", document=DocumentKind.THEFT_DECLARATION,
             hint="Je verse la déclaration de vol établie par une autorité compétente (Ex : Gendarmerie, Police nationale…).",
             empty="Versez la déclaration de vol établie par une autorité compétente."),
        ADDRESSES, SUMMARY,
    ),
    ReplacementReason.QUALITE: (Step("declaration", "Ma déclaration", "defauts", form=DefectsForm), ADDRESSES, SUMMARY),
}


# --- Opening, checking, reproducing ------------------------------------------------------------------


def replaceable_card(user):
    """Return the card the driver can have replaced and its replacement draft (any reason) if any, or raise Refused."""
    card = Card.select().where(Card.user == user, Card.state.in_(REPLACEABLE)).order_by(Card.issued_on.desc(), Card.id.desc()).first()
    if card is None:
        raise Refused("Vous n'avez pas de carte CQC livrée à remplacer.")
    live = (
        Replacement.select().join(Dossier)
        .where(Replacement.card == card, Dossier.state.not_in([RequestState.ANNULEE, RequestState.REFUSEE, RequestState.ACCEPTEE]))
    )
    draft = live.where(Dossier.state == RequestState.BROUILLON).first()
    if live.exists() and draft is None:
        raise Refused("Une demande de remplacement de cette carte est déjà en cours : suivez-la dans « Mes demandes en cours ».")
    return card, draft


def _preparer(reason):
    def prepare(user):
        """Return the card's replacement draft (another reason's is replaced), else the data of a new one."""
        card, draft = replaceable_card(user)
        if reason == ReplacementReason.QUALITE and card.state in DECLARED_MISSING:
            raise Refused(declared_refusal(card))
        driver = user.driver
        address = dict(address=driver.address, postal_code=driver.postal_code, city=driver.city)
        return (draft.dossier if draft is not None else None), dict(
            card=card, reason=reason, delivery_name=user.full_name, delivery_address=address["address"],
            delivery_address_extra=driver.address_extra, delivery_postal_code=address["postal_code"],
            delivery_city=address["city"], billing_name=user.full_name, billing_address=address["address"],
            billing_postal_code=address["postal_code"], billing_city=address["city"],
        )

    return prepare


def declared_refusal(card):
    """Say why a card declared lost or stolen cannot be replaced for a defect."""
    return (f"Votre carte n° {card.number} est {card.state_label.lower()} : elle ne peut plus être utilisée. "
            "Demandez son remplacement pour perte ou pour vol.")


def declare_card(dossier, user):
    """Mark the card « Déclarée perdue » or « Déclarée volée » when a loss or theft replacement is sent.

    The guides make the declaration a step of the request, revisable « tant que ma demande n'est pas validée », and a
    paid request is sent once its payment is confirmed (DESIGN §3): before that, the draft may still change its reason
    or be cancelled. Sending is the first moment the declaration is final, and it is made at once, before staff take
    the file; a refusal does not undo it (the card is still missing), and a new loss or theft request may follow.
    """
    replacement = Replacement.get_or_none(Replacement.dossier == dossier)
    if replacement is None or replacement.reason not in (ReplacementReason.PERTE, ReplacementReason.VOL):
        return None
    stolen = replacement.reason == ReplacementReason.VOL
    comment = f"{'Vol déclaré' if stolen else 'Perte déclarée'} par le titulaire (demande de remplacement n° {dossier.id})"
    if replacement.circumstances:
        comment += f". Circonstances : {replacement.circumstances}"
    return cards.declare_missing(replacement.card, stolen, user=user, comment=comment)


def addresses_missing(replacement):
    """Return what the delivery and billing addresses lack."""
    lacking = []
    if not (replacement.delivery_address and replacement.delivery_postal_code and replacement.delivery_city):
        lacking.append("l'adresse de livraison")
    if not (replacement.billing_address and replacement.billing_postal_code and replacement.billing_city):
        lacking.append("l'adresse de facturation")
    return lacking


def missing(dossier, replacement):
    """Return what the replacement request lacks before validation."""
    lacking = []
    if replacement.reason in (ReplacementReason.PERTE, ReplacementReason.VOL) and not replacement.commitment:
        lacking.append("l'engagement de restituer la carte si vous la retrouvez")
    if replacement.reason == ReplacementReason.QUALITE and not replacement.defects:
        lacking.append("au moins un élément en défaut")
    if replacement.reason == ReplacementReason.VOL and current_document(dossier, DocumentKind.THEFT_DECLARATION) is None:
        lacking.append("la déclaration de vol")
    return lacking + addresses_missing(replacement)


def reproduce(dossier, staff):
    """Make the replacement card: identical holder data and validity, a new number; the old card is replaced."""
    replacement = Replacement.get(Replacement.dossier == dossier)
    old = replacement.card
    with db.atomic():
        card = Card.create(
            user=old.user, dossier=dossier, number=uuid.uuid4().hex, category=old.category, state=CardState.EN_FABRICATION,
            last_name=old.last_name, first_name=old.first_name, birth_date=old.birth_date, birth_place=old.birth_place,
            licence_number=old.licence_number, issued_on=old.issued_on, expires_on=old.expires_on,
            delivery_lines="\n".join(replacement.delivery_lines),
        )
        card.number = f"{clock.today():%y}{card.id:08d}"
        card.save()
        CardEvent.create(card=card, event="order", to_state=CardState.EN_FABRICATION, staff=staff,
                         comment=f"Remplacement de la carte n° {old.number} ({REASON_LABELS.get(replacement.reason, replacement.reason)})")
        transitions.transition(old, "replace", staff=staff, comment=f"Remplacée par la carte n° {card.number}")
        Card.update(replaced_by=card).where(Card.id == old.id).execute()
    return card


# --- Quality: the card comes back, staff decide whose fault the defect is ------------------------------


def coupon_action(dossier, replacement):
    """« Coupon retour » while IN Groupe waits for the defective card."""
    waiting = replacement.received_at is None and dossier.state in (RequestState.ENVOYEE, RequestState.EN_INSTRUCTION)
    return ["coupon"] if waiting else []


def record_reception(dossier, staff):
    """Quality: IN Groupe received the card the driver sent back with the coupon."""
    Replacement.update(received_at=clock.now()).where(Replacement.dossier == dossier).execute()
    audit.record("Carte reçue pour analyse qualité", f"dossier {dossier.id}", staff=staff)


def decide_quality(dossier, staff, fault, comment=""):
    """Quality decision: IN Groupe's fault → replaced free (the new card is returned); the driver's → asked to pay."""
    replacement = Replacement.get(Replacement.dossier == dossier)
    if replacement.received_at is None:
        raise Refused("Enregistrez d'abord la réception de la carte retournée par le conducteur.")
    if fault not in FAULTS:
        raise Refused("Indiquez à qui l'erreur est imputée.")
    with db.atomic():
        Replacement.update(fault=fault).where(Replacement.id == replacement.id).execute()
        audit.record("Décision qualité", f"dossier {dossier.id}", FAULTS[fault], staff=staff)
        if dossier.state == RequestState.ENVOYEE:
            transitions.transition(dossier, "take", staff=staff, comment="Prise en instruction")
        if fault == "ingroupe":
            transitions.transition(dossier, "accept", staff=staff, comment="Demande acceptée")
            return reproduce(dossier, staff)
        reason = (comment or "").strip() or "Le défaut constaté est imputable au conducteur."
        Anomaly.create(dossier=dossier, field="paiement", reason=reason + " Corrigez si besoin vos informations et réglez le remplacement.")
        transitions.transition(dossier, "ask_info", staff=staff, comment=reason)
    return None


def price_of(product):
    """Return {ht, vat_rate, ttc} of a product today, or None when no tariff is in force."""
    try:
        amount_ht, vat_rate, cents = payments.price(product)
    except PaymentError:
        return None
    return {"ht": amount_ht, "vat_rate": vat_rate, "ttc": cents / 100}


def summary_context(dossier, replacement):
    """Return what a replacement's summary shows besides the file and its documents."""
    return {
        "reason_label": REASON_LABELS.get(replacement.reason, "Réexpédition"),
        "defects": replacement.defect_list,
        "commitment_label": commitment_label(replacement.reason),
        "return_address": RETURN_ADDRESS,
        "price": price_of(Product.REEXPEDITION if replacement.reason == ReplacementReason.PND else Product.CQC_REMPLACEMENT),
    }


def _declaration(reason, **extra):
    return Declaration(
        code=CODES[reason], data_model=Replacement, steps=STEPS[reason], pages="replacements",
        summary_template="public/replacements/_summary.html",
        title=f"Remplacement de ma carte CQC, motif « {REASON_LABELS[reason]} »",
        kept_on_cancel=("dossier", "card", "reason", "step"), prepare=_preparer(reason), missing=missing,
        on_accept=reproduce, summary_context=summary_context, opening=lambda data: f"Remplacement : {REASON_LABELS[reason]}", **extra,
    )


DECLARATIONS = (
    _declaration(ReplacementReason.PERTE, product=Product.CQC_REMPLACEMENT, on_submit=declare_card),
    _declaration(ReplacementReason.VOL, product=Product.CQC_REMPLACEMENT, on_submit=declare_card),
    # Free when sent: paid only if staff impute the defect to the driver (an information request to pay).
    _declaration(ReplacementReason.QUALITE, extra_actions=coupon_action,
                 submitting="Demande de remplacement pour qualité envoyée"),
)
