"""Replacements of a CQC (loss, theft, defect) and the paid re-dispatch of an undelivered card."""
import uuid

from models import (
    Anomaly, Card, CardEvent, CardState, DocumentKind, Dossier, Replacement, ReplacementReason, RequestState, db,
)
from services import audit, payments, transitions
from models import clock
from services.errors import Refused

PROCEDURES = {
    ReplacementReason.PERTE: "CQC_PERTE",
    ReplacementReason.VOL: "CQC_VOL",
    ReplacementReason.QUALITE: "CQC_QUALITE",
}
REASON_LABELS = {ReplacementReason.PERTE: "Perte", ReplacementReason.VOL: "Vol", ReplacementReason.QUALITE: "Qualité"}
#: The steps of each motif, in order (any can be revisited until the request is validated).
STEPS = {
    ReplacementReason.PERTE: ["declaration", "adresses", "recapitulatif"],
    ReplacementReason.VOL: ["declaration", "declaration_vol", "adresses", "recapitulatif"],
    ReplacementReason.QUALITE: ["declaration", "adresses", "recapitulatif"],
}
STEP_LABELS = {
    "declaration": "Ma déclaration",
    "declaration_vol": "Ma déclaration de vol",
    "adresses": "Mes adresses de livraison et de facturation",
    "recapitulatif": "Récapitulatif",
}
#: The theft declaration made to the police or gendarmerie.
THEFT_DECLARATION = DocumentKind.THEFT_DECLARATION
#: Elements of a card a driver may declare defective.
DEFECTS = [
    "Photo", "Nom ou prénom", "Date ou lieu de naissance", "Numéro de permis de conduire", "Dates de validité",
    "Catégorie (Marchandises / Voyageurs)", "Signature", "Carte abîmée ou illisible",
]
#: Cards a driver can have replaced.
REPLACEABLE = (CardState.LIVREE, CardState.ACTIVEE)
#: Who is at fault for a defect, as staff decide after receiving the card.
FAULTS = {"ingroupe": "Erreur imputée à IN Groupe", "conducteur": "Erreur imputée au conducteur"}


def replaceable_card(user):
    """Return the card the driver can have replaced, or raise Refused saying why."""
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


def start(user, reason):
    """Start a replacement request for the driver's card (or return the draft already started)."""
    card, draft = replaceable_card(user)
    if draft is not None and draft.dossier.procedure.code == PROCEDURES[reason]:
        return draft.dossier
    driver = user.driver
    with db.atomic():
        if draft is not None:  # another motif chosen: the old draft goes
            from services import requests

            requests.cancel(draft.dossier, user, comment="Motif de remplacement changé")
        dossier = transitions.open_dossier(PROCEDURES[reason], user, comment=f"Remplacement : {REASON_LABELS[reason]}")
        address = dict(address=driver.address, postal_code=driver.postal_code, city=driver.city)
        Replacement.create(
            dossier=dossier, card=card, reason=reason, delivery_name=user.full_name, delivery_address=address["address"],
            delivery_address_extra=driver.address_extra, delivery_postal_code=address["postal_code"],
            delivery_city=address["city"], billing_name=user.full_name, billing_address=address["address"],
            billing_postal_code=address["postal_code"], billing_city=address["city"],
        )
        audit.record(f"Demande de remplacement ({REASON_LABELS[reason]}) commencée", f"dossier {dossier.id}", user=user)
    return dossier


def missing(dossier):
    """Return what the replacement request lacks before validation."""
    from services import requests

    replacement = dossier.replacement.get()
    lacking = []
    if replacement.reason in (ReplacementReason.PERTE, ReplacementReason.VOL) and not replacement.commitment:
        lacking.append("l'engagement de restituer la carte si vous la retrouvez")
    if replacement.reason == ReplacementReason.QUALITE and not replacement.defects:
        lacking.append("au moins un élément en défaut")
    if replacement.reason == ReplacementReason.VOL and requests.current_document(dossier, THEFT_DECLARATION) is None:
        lacking.append("la déclaration de vol")
    if not (replacement.delivery_address and replacement.delivery_postal_code and replacement.delivery_city):
        lacking.append("l'adresse de livraison")
    if not (replacement.billing_address and replacement.billing_postal_code and replacement.billing_city):
        lacking.append("l'adresse de facturation")
    return lacking


def validate(dossier, user):
    """Validate the summary: a loss or theft goes to payment; a defect is sent at once (free until decided)."""
    lacking = missing(dossier)
    if lacking:
        raise Refused("Votre demande est incomplète : " + ", ".join(lacking) + ".")
    if dossier.replacement.get().reason == ReplacementReason.QUALITE:
        transitions.transition(dossier, "submit", user=user, comment="Demande de remplacement pour qualité envoyée")
        return None
    return payments.checkout(dossier, user, "CQC_REMPLACEMENT")


# --- Undelivered card (« pli non distribué »), Solution 2 ------------------------------------------


def start_redispatch(card, user, address):
    """Solution 2: a new address and the re-dispatch fee; the card leaves once the payment is confirmed."""
    if card.state != CardState.PND:
        raise Refused("Cette carte n'est pas revenue en pli non distribué.")
    with db.atomic():
        dossier = transitions.open_dossier("CQC_PND", user, comment="Réexpédition à une nouvelle adresse (solution 2)")
        # The name is optional in `address` (the holder's by default); passing it must not clash.
        Replacement.create(dossier=dossier, card=card, reason="pnd", step="recapitulatif",
                           billing_name=user.full_name, **{"delivery_name": user.full_name, **address},
                           billing_address=address["delivery_address"], billing_postal_code=address["delivery_postal_code"],
                           billing_city=address["delivery_city"])
        return payments.checkout(dossier, user, "REEXPEDITION")


# --- After payment, and staff decisions ---------------------------------------------------------


def on_paid(payment):
    """Move the file a confirmed payment was for (called inside the notification's transaction)."""
    dossier = payment.dossier
    code = dossier.procedure.code
    user = payment.user
    if code == "CQC_PND":
        replacement = dossier.replacement.get()
        transitions.transition(dossier, "submit", user=user, comment="Frais de réexpédition payés")
        card = replacement.card
        Card.update(delivery_lines="\n".join(replacement.delivery_lines)).where(Card.id == card.id).execute()
        transitions.transition(Card.get_by_id(card.id), "redispatch", user=user, comment="Réexpédition à la nouvelle adresse (solution 2)")
        transitions.transition(dossier, "take", comment="Traitement automatique après paiement")
        transitions.transition(dossier, "accept", comment="Carte réexpédiée à la nouvelle adresse")
    elif dossier.state == RequestState.BROUILLON:
        transitions.transition(dossier, "submit", user=user, comment="Paiement confirmé")
    elif dossier.state == RequestState.ATTENTE_COMPLEMENT:
        now = clock.now()
        Anomaly.update(new_value="Payé", corrected_at=now).where(
            Anomaly.dossier == dossier, Anomaly.field == "paiement", Anomaly.corrected_at.is_null()).execute()
        transitions.transition(dossier, "answer", user=user, comment="Remplacement payé par le titulaire")
    else:
        # The money is taken but the file no longer waits for it (cancelled meanwhile): staff refund it.
        audit.record("Paiement reçu pour un dossier qui ne l'attendait plus : à rembourser par un avoir",
                     payment.reference, f"dossier {dossier.id} à l'état {dossier.state}", user=user)


def record_reception(dossier, staff):
    """Quality: IN Groupe received the card the driver sent back with the coupon."""
    Replacement.update(received_at=clock.now()).where(Replacement.dossier == dossier).execute()
    audit.record("Carte reçue pour analyse qualité", f"dossier {dossier.id}", staff=staff)


def decide_quality(dossier, staff, fault, comment=""):
    """Quality decision: IN Groupe's fault → replaced free; the driver's → told to correct and pay."""
    from services import requests

    replacement = dossier.replacement.get()
    if replacement.received_at is None:
        raise Refused("Enregistrez d'abord la réception de la carte retournée par le conducteur.")
    if fault not in FAULTS:
        raise Refused("Indiquez à qui l'erreur est imputée.")
    with db.atomic():
        Replacement.update(fault=fault).where(Replacement.id == replacement.id).execute()
        if dossier.state == RequestState.ENVOYEE:
            requests.take(dossier, staff)
        if fault == "ingroupe":
            return requests.accept(dossier, staff)
        reason = (comment or "").strip() or "Le défaut constaté est imputable au conducteur."
        Anomaly.create(dossier=dossier, field="paiement", reason=reason + " Corrigez si besoin vos informations et réglez le remplacement.")
        transitions.transition(dossier, "ask_info", staff=staff, comment=reason)
    return None


def reproduce(dossier, staff):
    """Make the replacement card: identical holder data and validity, a new number; the old card is replaced."""
    replacement = dossier.replacement.get()
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
