"""Sweeps that follow up the holders' files: unanswered information requests, abandoned drafts.

Each sweep works in batches: one query reads a batch with its holders, the messages of the batch are
written with one statement per table, one UPDATE marks it. A run stops after RUN_LIMIT files; the next
run (hourly) takes the rest, so a backlog never holds the scheduler for long.
"""
from peewee import JOIN

from models import Anomaly, Dossier, Driver, Procedure, RequestState, User, db
from models import clock, deadlines
from services import dossiers, outbox

#: Files read, written and marked together.
BATCH = 500
#: Files a run handles at most, per sweep (48,000 a day each: far above what a day brings).
RUN_LIMIT = 2000


def _batches(query):
    """Yield lists of files (their holder and driver joined) until the query is empty or the run's limit is reached."""
    handled = 0
    while handled < RUN_LIMIT:
        batch = list(query.select(Dossier, Procedure, User, Driver).join_from(Dossier, Procedure)
                     .join_from(Dossier, User).join_from(User, Driver, on=(Driver.user == User.id), attr="_driver",
                                                          join_type=JOIN.LEFT_OUTER)
                     .order_by(Dossier.id).limit(min(BATCH, RUN_LIMIT - handled)))
        if not batch:
            return
        handled += len(batch)
        yield batch


def remind_unanswered():
    """Remind drivers, every week, of an information request they have not answered."""
    limit = clock.now() - deadlines.INFO_REMINDER
    waiting = Dossier.select().where(
        Dossier.state == RequestState.ATTENTE_COMPLEMENT,
        Dossier.updated_at < limit,
        Dossier.reminded_at.is_null() | (Dossier.reminded_at < limit),
    )
    count = 0
    for batch in _batches(waiting):
        open_anomalies = {}
        for anomaly in (Anomaly.select().where(Anomaly.dossier.in_([d.id for d in batch]), Anomaly.corrected_at.is_null())
                        .order_by(Anomaly.id)):
            open_anomalies.setdefault(anomaly.dossier_id, []).append(f"{anomaly.field_label} : {anomaly.reason}")
        with db.atomic():
            outbox.notify_many({
                "user": dossier.user,
                "message": f"Rappel : votre demande n° {dossier.id} attend toujours votre réponse à la demande "
                           "d'information complémentaire.",
                "link": outbox.public_url("requests.index"), "template": "notification",
                "subject": "Rappel : votre demande attend votre réponse",
                "details": open_anomalies.get(dossier.id, []),
                "sms_text": f"Hub Pro Transport : rappel, votre demande n° {dossier.id} attend votre réponse.",
            } for dossier in batch)
            Dossier.update(reminded_at=clock.now()).where(Dossier.id.in_([d.id for d in batch])).execute()
        count += len(batch)
    return count


def sweep_drafts():
    """Warn the holder of a draft untouched for 60 days, then erase it 15 days later."""
    now = clock.now()
    drafts = Dossier.select().where(Dossier.state == RequestState.BROUILLON)
    warned = erased = 0
    abandoned = drafts.where(Dossier.updated_at < now - deadlines.DRAFT_ABANDONED, Dossier.draft_warned_at.is_null())
    for batch in _batches(abandoned):
        with db.atomic():
            outbox.notify_many({
                "user": dossier.user,
                "message": f"Votre demande n° {dossier.id} ({dossier.procedure.name}) est commencée mais n'a pas été "
                           f"envoyée : sans action de votre part, elle sera supprimée dans {deadlines.DRAFT_GRACE.days} jours.",
                "link": outbox.public_url("requests.index"), "template": "notification",
                "subject": "Votre demande non envoyée va être supprimée",
            } for dossier in batch)
            Dossier.update(draft_warned_at=now).where(Dossier.id.in_([d.id for d in batch])).execute()
        warned += len(batch)
    # Erasing a draft erases its documents too: one file at a time, as the holder's « Annuler » does.
    for dossier in drafts.where(Dossier.draft_warned_at < now - deadlines.DRAFT_GRACE).order_by(Dossier.id).limit(RUN_LIMIT):
        dossiers.cancel(dossier, None, comment="Brouillon abandonné supprimé automatiquement")
        erased += 1
    return {"warned": warned, "erased": erased}
