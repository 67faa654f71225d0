"""« Pli non distribué », solution 2: the holder gives a new address and pays the re-dispatch of the returned card."""
from flask import url_for

from models import Card, CardState, Dossier, ProcedureCode, Product, Replacement, ReplacementReason, RequestState
from services import transitions
from services.errors import Refused
from services.procedures.base import Declaration, Step
from services.procedures.replacements import addresses_missing, summary_context


def unpaid(card):
    """Return the card's re-dispatch still awaiting its payment, or None."""
    return (
        Dossier.select().join(Replacement)
        .where(Replacement.card == card, Replacement.reason == ReplacementReason.PND, Dossier.state == RequestState.BROUILLON)
        .order_by(Dossier.id.desc())
        .first()
    )


def prepare(user, card, address):
    """Return the card's unpaid re-dispatch (its address updated), else the data of a new one."""
    if card.state != CardState.PND:
        raise Refused("Cette carte n'est pas revenue en pli non distribué.")
    # The name is optional in `address` (the holder's by default).
    address = {"delivery_name": user.full_name, **address}
    draft = unpaid(card)
    if draft is not None:  # paying again after an abandoned or refused payment, with the address as now typed
        Replacement.update(**address).where(Replacement.dossier == draft).execute()
        return draft, {}
    return None, dict(
        card=card, reason=ReplacementReason.PND, step="recapitulatif", billing_name=user.full_name, **address,
        billing_address=address["delivery_address"], billing_postal_code=address["delivery_postal_code"],
        billing_city=address["delivery_city"],
    )


def on_paid(payment):
    """The fee is paid: the file is sent, the card leaves again for the new address, and the file is done."""
    dossier, user = payment.dossier, payment.user
    replacement = Replacement.get(Replacement.dossier == dossier)
    transitions.transition(dossier, "submit", user=user, comment="Frais de réexpédition payés")
    Card.update(delivery_lines="\n".join(replacement.delivery_lines)).where(Card.id == replacement.card_id).execute()
    transitions.transition(Card.get_by_id(replacement.card_id), "redispatch", user=user,
                           comment="Réexpédition à la nouvelle adresse (solution 2)")
    transitions.transition(dossier, "take", comment="Traitement automatique après paiement")
    transitions.transition(dossier, "accept", comment="Carte réexpédiée à la nouvelle adresse")


DECLARATION = Declaration(
    code=ProcedureCode.CQC_PND,
    data_model=Replacement,
    steps=(Step("recapitulatif", "Récapitulatif", "recapitulatif"),),
    pages="replacements",
    summary_template="public/replacements/_summary.html",
    title="Réexpédition de ma carte CQC à une nouvelle adresse",
    product=Product.REEXPEDITION,
    kept_on_cancel=("dossier", "card", "reason", "step"),
    prepare=prepare,
    missing=lambda dossier, replacement: addresses_missing(replacement),
    on_paid=on_paid,
    summary_context=summary_context,
    # An unpaid re-dispatch resumes on its card's page, where the address can change before paying again.
    resume=lambda dossier, replacement: url_for("cards.pnd", card_id=replacement.card_id),
    opening=lambda data: "Réexpédition à une nouvelle adresse (solution 2)",
)
