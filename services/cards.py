"""CQC cards: ordered by an accepted request, made, shipped, delivered or returned, activated."""
import datetime as dt
import uuid

from models import Card, CardEvent, CardState, TrainingKind, db
from models import clock, deadlines
from services import transitions

#: Cards whose validity an early FCO extends (the new card's 5 years start when they expire).
CURRENT = (CardState.EN_FABRICATION, CardState.EXPEDIEE, CardState.LIVREE, CardState.ACTIVEE, CardState.PND)


def validity(user, category, training_kind, issued_on):
    """Return the expiry date of a new card: 5 years, or after an early FCO 5 years from the old card's end."""
    start = issued_on
    if training_kind == TrainingKind.FCO:
        current = (
            Card.select()
            .where(Card.user == user, Card.category == category, Card.state.in_(CURRENT), Card.expires_on >= issued_on)
            .order_by(Card.expires_on.desc())
            .first()
        )
        if current is not None:
            start = current.expires_on + dt.timedelta(days=1)
    return deadlines.add_years(start, deadlines.CARD_VALIDITY_YEARS) - dt.timedelta(days=1)


def order(dossier, staff):
    """Create the card an accepted CQC request orders, identical to the holder's checked data."""
    request = dossier.cqc.get()
    training = request.training
    user = dossier.user
    driver = user.driver
    issued_on = clock.today()
    with db.atomic():
        card = Card.create(
            user=user, dossier=dossier, number=uuid.uuid4().hex, category=training.category,
            state=CardState.EN_FABRICATION, last_name=user.last_name.upper(), first_name=user.first_name.upper(),
            birth_date=driver.birth_date, birth_place=driver.birth_place, licence_number=driver.licence_number,
            issued_on=issued_on, expires_on=validity(user, training.category, training.kind, issued_on),
            delivery_lines="\n".join(request.delivery_lines),
        )
        card.number = f"{issued_on:%y}{card.id:08d}"
        card.save()
        CardEvent.create(card=card, event="order", to_state=CardState.EN_FABRICATION, staff=staff,
                         comment=f"Commande suite à la demande n° {dossier.id}")
    return card


def move(card, event, *, staff=None, user=None, comment=""):
    """Apply a card event (ship, deliver, return, redispatch, activate)."""
    return transitions.transition(card, event, staff=staff, user=user, comment=comment)


def confirm_address(card, user):
    """« pli non distribué », Solution 1: the address is right; the card is sent again to it."""
    return move(card, "redispatch", user=user, comment="Adresse confirmée par le titulaire (solution 1)")
