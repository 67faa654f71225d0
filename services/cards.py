"""Cards: ordered by an accepted request (a CQC, tachograph cards), made, shipped, delivered or returned, activated."""
import datetime as dt
import uuid

from models import (
    DECLARED_MISSING, TACHY_REPLACEMENTS, Card, CardEvent, CardKind, CardState, Dossier, ProcedureCode, TrainingKind, db,
)
from models import clock, deadlines
from services import notices, transitions

#: Cards whose validity an early FCO extends (the new card's 5 years start when they expire): a card declared lost
#: or stolen can no longer be used, but the qualification it carries still runs until its expiry.
CURRENT = (CardState.EN_FABRICATION, CardState.EXPEDIEE, CardState.LIVREE, CardState.ACTIVEE, CardState.PND,
           *DECLARED_MISSING)


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


def order_tachographs(dossier, staff):
    """Create the tachograph cards an accepted request orders; return the first one.

    A driver card is valid 5 years (a replacement keeps the replaced card's expiry, and that card is
    then « remplacée »); a company request orders its number of company cards.
    """
    request = dossier.tachograph.get()
    organisation = dossier.organisation
    issued_on = clock.today()
    five_years = deadlines.add_years(issued_on, deadlines.TACHOGRAPH_VALIDITY_YEARS) - dt.timedelta(days=1)
    replaced = request.previous_card if request.reason in TACHY_REPLACEMENTS else None
    if dossier.procedure.code == ProcedureCode.TACHY_CONDUCTEUR:
        driver = request.company_driver
        holders = [dict(kind=CardKind.TACHY_CONDUCTEUR, company_driver=driver, last_name=driver.last_name.upper(),
                        first_name=driver.first_name.upper(), birth_date=driver.birth_date,
                        birth_place=driver.birth_place, licence_number=driver.licence_number)]
    else:
        holders = [dict(kind=CardKind.TACHY_ENTREPRISE, last_name=organisation.name)] * request.card_count
    ordered = []
    with db.atomic():
        for holder in holders:
            card = Card.create(
                organisation=organisation, dossier=dossier, number=uuid.uuid4().hex, state=CardState.EN_FABRICATION,
                issued_on=issued_on, expires_on=replaced.expires_on if replaced else five_years,
                delivery_lines="\n".join(request.delivery_lines), **holder,
            )
            card.number = f"F{card.id:013d}00"
            card.save()
            CardEvent.create(card=card, event="order", to_state=CardState.EN_FABRICATION, staff=staff,
                             comment=f"Commande suite à la demande n° {dossier.id}")
            ordered.append(card)
        if replaced is not None:
            move(replaced, "replace", staff=staff, comment=f"Remplacée par la carte n° {ordered[0].number}")
            Card.update(replaced_by=ordered[0]).where(Card.id == replaced.id).execute()
    return ordered[0]


def due_for_renewal():
    """Return the tachograph cards entering their last 3 months, not reminded yet."""
    today = clock.today()
    return (
        Card.select(Card, Dossier).join(Dossier)
        .where(Card.kind.in_([CardKind.TACHY_CONDUCTEUR, CardKind.TACHY_ENTREPRISE]),
               Card.state.in_([CardState.LIVREE, CardState.ACTIVEE]), Card.renewal_reminded_at.is_null(),
               Card.expires_on >= today, Card.expires_on <= deadlines.add_months(today, deadlines.RENEWAL_NOTICE_MONTHS))
        .order_by(Card.expires_on, Card.id)
    )


def remind_renewals():
    """Remind each organisation of its tachograph cards expiring within 3 months, once per card; return how many."""
    reminded = 0
    for card in due_for_renewal():
        with db.atomic():
            if Card.update(renewal_reminded_at=clock.now()).where(
                    Card.id == card.id, Card.renewal_reminded_at.is_null()).execute():
                notices.renewal_due(card)
                reminded += 1
    return reminded


def move(card, event, *, staff=None, user=None, comment=""):
    """Apply a card event (ship, deliver, return, redispatch, activate)."""
    return transitions.transition(card, event, staff=staff, user=user, comment=comment)


def declare_missing(card, stolen, *, user, comment):
    """Record the holder's declaration that a card is lost (or stolen); return the history row, None if already so.

    A card declared lost may then be declared stolen; declared again for the same reason (a new request after a
    refused one), it keeps its first declaration.
    """
    event = "declare_stolen" if stolen else "declare_lost"
    if card.state in DECLARED_MISSING and card.state not in transitions.CARD[event].sources:
        return None
    return move(card, event, user=user, comment=comment)


def confirm_address(card, user):
    """« pli non distribué », Solution 1: the address is right; the card is sent again to it."""
    return move(card, "redispatch", user=user, comment="Adresse confirmée par le titulaire (solution 1)")
