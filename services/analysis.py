"""Sweeps over the files that reach the instructing service."""
from models import AccountState, Dossier, Habilitation, Procedure, Staff, StaffRole, Subscription, db, ProcedureCode
from models import clock, deadlines
from services import outbox


def overdue_accounts():
    """Return the driver accounts waiting for analysis longer than the 24-hour target, not alerted yet."""
    return (
        Dossier.select(Dossier, Procedure)
        .join(Procedure)
        .where(
            Procedure.code == ProcedureCode.COMPTE_PARTICULIER,
            Dossier.state == AccountState.EN_ANALYSE,
            Dossier.submitted_at < clock.now() - deadlines.ANALYSIS_TARGET,
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
    """E-mail staff the accounts late for analysis; each submission is alerted once."""
    dossiers = list(overdue_accounts())
    if not dossiers:
        return {"alerted": 0}
    link = outbox.public_url("account_queue.index_view")
    with db.atomic():
        for address in staff_addresses(ProcedureCode.COMPTE_PARTICULIER):
            outbox.queue_email(
                address, "analysis_overdue", f"{len(dossiers)} compte(s) en attente d'analyse depuis plus de 24 h",
                dossiers=dossiers, link=link,
            )
        Dossier.update(overdue_alerted_at=clock.now()).where(Dossier.id.in_([d.id for d in dossiers])).execute()
    return {"alerted": len(dossiers)}


def tell_subscriptions():
    """E-mail each subscription's address about the files that reached it since its start date."""
    told = 0
    for subscription in Subscription.select(Subscription, Procedure).join(Procedure):
        dossiers = (
            Dossier.select()
            .where(
                Dossier.procedure == subscription.procedure,
                Dossier.subscription_notified_at.is_null(),
                Dossier.created_at >= subscription.start_date,
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
