"""Sweeps that follow up the holders' files: unanswered information requests, abandoned drafts."""
from models import Dossier, Procedure, RequestState, db
from models import clock, deadlines
from services import dossiers, outbox


def remind_unanswered():
    """Remind drivers, every week, of an information request they have not answered."""
    limit = clock.now() - deadlines.INFO_REMINDER
    waiting = Dossier.select().where(
        Dossier.state == RequestState.ATTENTE_COMPLEMENT,
        Dossier.updated_at < limit,
        Dossier.reminded_at.is_null() | (Dossier.reminded_at < limit),
    )
    count = 0
    for dossier in waiting:
        with db.atomic():
            outbox.notify(
                dossier.user,
                f"Rappel : votre demande n° {dossier.id} attend toujours votre réponse à la demande d'information complémentaire.",
                link=outbox.public_url("requests.index"), template="notification",
                subject="Rappel : votre demande attend votre réponse",
                details=[f"{a.field_label} : {a.reason}" for a in dossier.open_anomalies()],
                sms_text=f"Hub Pro Transport : rappel, votre demande n° {dossier.id} attend votre réponse.",
            )
            Dossier.update(reminded_at=clock.now()).where(Dossier.id == dossier.id).execute()
        count += 1
    return count


def sweep_drafts():
    """Warn the holder of a draft untouched for 60 days, then erase it 15 days later."""
    now = clock.now()
    drafts = Dossier.select(Dossier, Procedure).join(Procedure).where(Dossier.state == RequestState.BROUILLON)
    warned = erased = 0
    for dossier in drafts.where(Dossier.updated_at < now - deadlines.DRAFT_ABANDONED, Dossier.draft_warned_at.is_null()):
        with db.atomic():
            outbox.notify(
                dossier.user,
                f"Votre demande n° {dossier.id} ({dossier.procedure.name}) est commencée mais n'a pas été envoyée : "
                f"sans action de votre part, elle sera supprimée dans {deadlines.DRAFT_GRACE.days} jours.",
                link=outbox.public_url("requests.index"), template="notification",
                subject="Votre demande non envoyée va être supprimée",
            )
            Dossier.update(draft_warned_at=now).where(Dossier.id == dossier.id).execute()
        warned += 1
    for dossier in drafts.where(Dossier.draft_warned_at < now - deadlines.DRAFT_GRACE):
        dossiers.cancel(dossier, None, comment="Brouillon abandonné supprimé automatiquement")
        erased += 1
    return {"warned": warned, "erased": erased}
