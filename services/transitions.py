"""The lifecycles of files: one table of events per lifecycle and the one transition() function.

Views and jobs never assign a state: they call transition(), which checks the table, moves the
file atomically (two staff acting at once cannot both succeed), writes the history and queues
the notifications the event implies.
"""
from dataclasses import dataclass
from typing import Callable

from models import AccountState, Dossier, DossierEvent, Procedure, STATE_LABELS, db
from services import clock, notices


class TransitionError(Exception):
    """An event that the lifecycle does not allow from the file's current state."""


@dataclass(frozen=True)
class Step:
    label: str
    sources: tuple
    target: str
    notify: Callable | None = None


#: Driver account analysis (procedure COMPTE_PARTICULIER), DESIGN §3.
ACCOUNT = {
    "accept": Step("déclarer conforme", (AccountState.EN_ANALYSE,), AccountState.CONFORME, notices.account_accepted),
    "reject": Step("déclarer non conforme", (AccountState.EN_ANALYSE,), AccountState.A_CORRIGER, notices.account_rejected),
    "resubmit": Step("renvoyer pour analyse", (AccountState.A_CORRIGER,), AccountState.EN_ANALYSE),
    "activate": Step("activer", (AccountState.CONFORME,), AccountState.ACTIVE),
}

#: The lifecycle each procedure follows, and the state its files are born in.
LIFECYCLES = {"COMPTE_PARTICULIER": (ACCOUNT, AccountState.EN_ANALYSE)}


def lifecycle(dossier):
    """Return the event table of this file's procedure."""
    return LIFECYCLES[dossier.procedure.code][0]


def open_dossier(procedure_code, user, *, comment=""):
    """Create a file of a procedure in its initial state, with the first line of its history."""
    state = LIFECYCLES[procedure_code][1]
    dossier = Dossier.create(procedure=Procedure.by_code(procedure_code), user=user, state=state)
    DossierEvent.create(dossier=dossier, event="create", to_state=state, user=user, comment=comment)
    return dossier


def allowed_events(dossier):
    """Return the events the lifecycle allows from this file's current state."""
    return [event for event, step in lifecycle(dossier).items() if dossier.state in step.sources]


def transition(dossier, event, *, staff=None, user=None, comment="", **context):
    """Apply an event to a file, or raise TransitionError and change nothing."""
    step = lifecycle(dossier).get(event)
    if step is None:
        raise TransitionError(f"L'action « {event} » n'existe pas pour ce dossier.")
    if dossier.state not in step.sources:
        raise TransitionError(
            f"Impossible de {step.label} un dossier à l'état « {STATE_LABELS.get(dossier.state, dossier.state)} »."
        )
    with db.atomic():
        now = clock.now()
        changes = {"state": step.target, "updated_at": now}
        if step.target == AccountState.EN_ANALYSE:
            changes.update(submitted_at=now, overdue_alerted_at=None)
        moved = (
            Dossier.update(**changes)
            .where(Dossier.id == dossier.id, Dossier.state == dossier.state)
            .execute()
        )
        if moved != 1:
            raise TransitionError("Ce dossier vient d'être modifié par ailleurs : rechargez la page.")
        previous = dossier.state
        for name, value in changes.items():
            setattr(dossier, name, value)
        row = DossierEvent.create(
            dossier=dossier, event=event, from_state=previous, to_state=step.target,
            staff=staff, user=user, comment=comment, at=now,
        )
        if step.notify:
            step.notify(dossier, row, **context)
    return row
