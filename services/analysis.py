"""Sweeps over the files that reach the instructing service."""
import datetime as dt
from dataclasses import dataclass

from peewee import JOIN

from models import (
    CONTRACT_PROCEDURES, AccountState, Dossier, Habilitation, Organisation, Procedure, ProcedureCode, RequestState, Staff,
    StaffRole, Subscription, User, db,
)
from models import clock, deadlines
from services import outbox


@dataclass(frozen=True)
class Watch:
    """Files that must be handled within a target time: which, how late, where staff handle them, what they read."""

    name: str
    codes: tuple
    states: tuple
    target: dt.timedelta
    queue: str
    template: str
    subject: str


#: The time targets staff are alerted about: driver accounts analysed and contracts numbered within 24 hours.
WATCHES = (
    Watch("accounts", (ProcedureCode.COMPTE_PARTICULIER,), (AccountState.EN_ANALYSE,), deadlines.ANALYSIS_TARGET,
          "account_queue.index_view", "analysis_overdue", "{n} compte(s) en attente d'analyse depuis plus de 24 h"),
    Watch("contracts", CONTRACT_PROCEDURES, (RequestState.ENVOYEE, RequestState.EN_INSTRUCTION), deadlines.CONTRACT_TARGET,
          "contracts.index_view", "contract_overdue", "{n} contrat(s) en attente de numéro depuis plus de 24 h"),
)


def overdue(watch):
    """Return the files late for a watch's target, not alerted yet, oldest first."""
    # The holder and the organisation come with each file: the alert lists them without a query per file.
    return (
        Dossier.select(Dossier, Procedure, User, Organisation)
        .join(Procedure)
        .switch(Dossier).join(User)
        .switch(Dossier).join(Organisation, JOIN.LEFT_OUTER, on=(Dossier.organisation == Organisation.id))
        .where(
            Procedure.code.in_(watch.codes),
            Dossier.state.in_(watch.states),
            Dossier.submitted_at < clock.now() - watch.target,
            Dossier.overdue_alerted_at.is_null(),
        )
        .order_by(Dossier.submitted_at)
    )


def staff_addresses(procedure_code):
    """Return who hears about a procedure: its subscription's address, else the staff who process it."""
    subscription = Subscription.receiving(procedure_code)
    if subscription is not None:
        return [subscription.notification_email]
    agents = (
        Staff.select(Staff.email)
        .join(Habilitation)
        .join(Procedure)
        .where(Procedure.code == procedure_code, Staff.active == True)  # noqa: E712
    )
    admins = Staff.select(Staff.email).where(Staff.role == StaffRole.LOCAL_ADMIN, Staff.active == True)  # noqa: E712
    return sorted({s.email for s in agents} | {s.email for s in admins})


def alert_overdue():
    """E-mail staff the files late for their target (accounts, contracts); each submission is alerted once."""
    report = {}
    for watch in WATCHES:
        dossiers = list(overdue(watch))
        report[watch.name] = len(dossiers)
        if not dossiers:
            continue
        link = outbox.public_url(watch.queue)
        addresses = sorted({address for code in watch.codes for address in staff_addresses(code)})
        with db.atomic():
            for address in addresses:
                outbox.queue_email(address, watch.template, watch.subject.format(n=len(dossiers)),
                                   dossiers=dossiers, link=link)
            Dossier.update(overdue_alerted_at=clock.now()).where(Dossier.id.in_([d.id for d in dossiers])).execute()
    return {"alerted": sum(report.values()), **report}


#: A file reaches the service once sent: a draft (and a draft cancelled, which never was sent) is nobody's news.
UNSENT = (RequestState.BROUILLON, RequestState.ANNULEE)


def tell_subscriptions():
    """E-mail each subscription's address about the files sent to it since its start date (never a draft)."""
    told = 0
    for subscription in Subscription.select(Subscription, Procedure).join(Procedure):
        dossiers = (
            Dossier.select()
            .where(
                Dossier.procedure == subscription.procedure,
                Dossier.subscription_notified_at.is_null(),
                Dossier.state.not_in(UNSENT),
                Dossier.submitted_at >= subscription.start_date,
            )
            .order_by(Dossier.id)
        )
        with db.atomic():
            for dossier in dossiers:
                outbox.queue_email(
                    subscription.notification_email, "new_file",
                    f"Nouveau télédossier : {subscription.procedure.name}",
                    dossier=dossier, link=outbox.public_url("admin.index"),
                )
                Dossier.update(subscription_notified_at=clock.now()).where(Dossier.id == dossier.id).execute()
                told += 1
    return {"told": told}
