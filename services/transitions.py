"""The lifecycles of files and cards: one table of events per lifecycle and one transition() function.

Views and jobs never assign a state: they call transition(), which checks the table, moves the
file or card atomically (two staff acting at once cannot both succeed), writes the history and
queues the notifications the event implies.
"""
from dataclasses import dataclass
from typing import Callable

from models import (
    AccountState,
    Card,
    CardEvent,
    CardState,
    DECLARED_MISSING,
    Dossier,
    DossierEvent,
    Procedure,
    ProcedureCode,
    RequestState,
    STATE_LABELS,
    db,
)
from models import clock
from services import notices
from services.errors import TransitionError


@dataclass(frozen=True)
class Step:
    label: str
    sources: tuple
    target: str
    notify: Callable | None = None
    #: The file reaches the service (again): its waiting time starts now.
    submits: bool = False
    #: Staff decide on the file: the dashboard counts the decision and the time it took.
    decides: bool = False


#: Driver account analysis (procedure COMPTE_PARTICULIER).
ACCOUNT = {
    "accept": Step("déclarer conforme", (AccountState.EN_ANALYSE,), AccountState.CONFORME, notices.account_accepted,
                   decides=True),
    "reject": Step("déclarer non conforme", (AccountState.EN_ANALYSE,), AccountState.A_CORRIGER, notices.account_rejected,
                   decides=True),
    "resubmit": Step("renvoyer pour analyse", (AccountState.A_CORRIGER,), AccountState.EN_ANALYSE, submits=True),
    "activate": Step("activer", (AccountState.CONFORME,), AccountState.ACTIVE),
}

#: Every request (CQC and the later procedures).
REQUEST = {
    "submit": Step("envoyer", (RequestState.BROUILLON,), RequestState.ENVOYEE, notices.request_submitted, submits=True),
    "cancel": Step("annuler", (RequestState.BROUILLON,), RequestState.ANNULEE),
    "take": Step("prendre en instruction", (RequestState.ENVOYEE,), RequestState.EN_INSTRUCTION, notices.request_taken),
    "ask_info": Step(
        "demander une information complémentaire pour", (RequestState.EN_INSTRUCTION,),
        RequestState.ATTENTE_COMPLEMENT, notices.info_requested,
    ),
    "answer": Step("répondre à", (RequestState.ATTENTE_COMPLEMENT,), RequestState.EN_INSTRUCTION, submits=True),
    "accept": Step("accepter", (RequestState.EN_INSTRUCTION,), RequestState.ACCEPTEE, notices.request_accepted,
                   decides=True),
    "reject": Step("refuser", (RequestState.EN_INSTRUCTION,), RequestState.REFUSEE, notices.request_rejected, decides=True),
}

#: A card ordered by an accepted request.
CARD = {
    "ship": Step("expédier", (CardState.EN_FABRICATION,), CardState.EXPEDIEE, notices.card_shipped),
    "deliver": Step("déclarer livrée", (CardState.EXPEDIEE,), CardState.LIVREE),
    "return": Step("déclarer en pli non distribué", (CardState.EXPEDIEE,), CardState.PND, notices.card_returned),
    "redispatch": Step("réexpédier", (CardState.PND,), CardState.EXPEDIEE, notices.card_shipped),
    "activate": Step("activer", (CardState.LIVREE,), CardState.ACTIVEE),
    # The holder's declarations, made by sending a loss or theft replacement (a lost card may turn out stolen).
    "declare_lost": Step("déclarer perdue", (CardState.LIVREE, CardState.ACTIVEE), CardState.DECLAREE_PERDUE),
    "declare_stolen": Step("déclarer volée", (CardState.LIVREE, CardState.ACTIVEE, CardState.DECLAREE_PERDUE),
                           CardState.DECLAREE_VOLEE),
    "replace": Step("remplacer", (CardState.LIVREE, CardState.ACTIVEE, *DECLARED_MISSING), CardState.REMPLACEE),
}

#: The lifecycle each procedure follows, and the state its files are born in; every other procedure is a request.
LIFECYCLES = {ProcedureCode.COMPTE_PARTICULIER: (ACCOUNT, AccountState.EN_ANALYSE)}
REQUEST_LIFECYCLE = (REQUEST, RequestState.BROUILLON)

#: The holder's word for each event they trigger from the portal (DESIGN §3).
HOLDER_EVENTS = {"submit": "reprendre", "cancel": "annuler", "answer": "repondre"}


def lifecycle_of(code):
    """Return (event table, initial state) of a procedure."""
    return LIFECYCLES.get(code, REQUEST_LIFECYCLE)


def lifecycle(subject):
    """Return the event table of a file (by its procedure) or of a card."""
    if isinstance(subject, Card):
        return CARD
    return lifecycle_of(subject.procedure.code)[0]


def open_dossier(procedure_code, user, *, comment="", organisation=None):
    """Create a file of a procedure in its initial state (for an organisation, if given), with its first history line."""
    state = lifecycle_of(procedure_code)[1]
    dossier = Dossier.create(procedure=Procedure.by_code(procedure_code), user=user, organisation=organisation,
                             state=state)
    DossierEvent.create(dossier=dossier, event="create", to_state=state, user=user, comment=comment)
    return dossier


def allowed_events(subject):
    """Return the events the lifecycle allows from the current state."""
    return [event for event, step in lifecycle(subject).items() if subject.state in step.sources]


def holder_actions(table, state):
    """Return the holder's actions on a file in a state, in the order shown, derived from its event table.

    « Afficher » shows a file once it is sent (neither a draft nor cancelled); « Reprendre », « Annuler »
    and « Répondre » are the holder's events the table allows from the state.
    """
    unsent = {step.target for event, step in table.items() if event == "cancel"} | set(table["submit"].sources)
    shown = [] if state in unsent else ["afficher"]
    return shown + [HOLDER_EVENTS[event] for event, step in table.items() if event in HOLDER_EVENTS and state in step.sources]


def _de(verb):
    """Return « d' » before a vowel (« Impossible d'accepter »), « de » otherwise."""
    return "d'" if verb[:1].lower() in "aeéèêiîouy" else "de "


def check(subject, event):
    """Return the step of an event the lifecycle allows from the current state, or raise TransitionError saying why not."""
    step = lifecycle(subject).get(event)
    if step is None:
        raise TransitionError(f"L'action « {event} » n'existe pas ici.")
    if subject.state not in step.sources:
        what = "une carte" if isinstance(subject, Card) else "un dossier"
        raise TransitionError(
            f"Impossible {_de(step.label)}{step.label} {what} à l'état « {STATE_LABELS.get(subject.state, subject.state)} »."
        )
    return step


def transition(subject, event, *, staff=None, user=None, comment="", **context):
    """Apply an event to a file or a card, or raise TransitionError and change nothing."""
    step = check(subject, event)
    model, history = (Card, CardEvent) if isinstance(subject, Card) else (Dossier, DossierEvent)
    with db.atomic():
        now = clock.now()
        changes = {"state": step.target}
        if model is Dossier:
            changes["updated_at"] = now
            if step.submits:
                changes.update(submitted_at=now, overdue_alerted_at=None)
            if step.decides:
                changes["decided_at"] = now
        moved = model.update(**changes).where(model.id == subject.id, model.state == subject.state).execute()
        if moved != 1:
            raise TransitionError("Ce dossier vient d'être modifié par ailleurs : rechargez la page.")
        previous = subject.state
        for name, value in changes.items():
            setattr(subject, name, value)
        owner = {"card": subject} if model is Card else {"dossier": subject}
        row = history.create(
            event=event, from_state=previous, to_state=step.target, staff=staff, user=user, comment=comment, at=now, **owner
        )
        if step.notify:
            step.notify(subject, row, **context)
    return row
