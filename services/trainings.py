"""Trainings recorded by centres: the summary on the driver's account and the qualification certificate.

A training is attached to its driver's account (and its certificate issued) inside the caller's
transaction; its PDFs are made once that transaction has committed, by publish(), which then
tells the driver. A PDF that cannot be made then (wkhtmltopdf failing) is made by the next run of
the « certificates » job (publish_pending).
"""
from flask import current_app
from peewee import SQL, fn

from models import (
    ProcedureCode,
    AccountState, CARD_TRAININGS, Certificate, Dossier, Driver, Procedure, Training, User, db,
)
from models import clock, deadlines
from services import audit, documents, notices, storage


def record(centre, recorded_by, **data):
    """Record a training for a driver; attach it at once when the driver's account is accepted, then publish its PDFs."""
    with db.atomic():
        training = Training.create(centre=centre, recorded_by=recorded_by, **data)
        audit.record("Formation déclarée", f"{training.title} – {training.licence_number}", user=recorded_by)
        user = matching_account(training.licence_number, training.birth_date)
        if user is not None:
            attach(training, user)
    if training.user_id:
        publish(training)
    return training


def matching_account(licence_number, birth_date):
    """Return the accepted driver account with this licence number and birth date, or None."""
    return (
        User.select()
        .join(Driver, on=(Driver.user == User.id))
        .switch(User)
        .join(Dossier, on=(Dossier.user == User.id))
        .join(Procedure)
        .where(
            Driver.licence_number == licence_number,
            Driver.birth_date == birth_date,
            Procedure.code == ProcedureCode.COMPTE_PARTICULIER,
            Dossier.state.in_([AccountState.CONFORME, AccountState.ACTIVE]),
        )
        .first()
    )


def attach_pending(user):
    """Attach to a newly accepted account the trainings recorded before it existed; return them, to publish once committed."""
    driver = user.driver
    pending = Training.select().where(
        Training.user.is_null(), Training.licence_number == driver.licence_number, Training.birth_date == driver.birth_date
    )
    attached = list(pending.order_by(Training.id))
    for training in attached:
        attach(training, user)
    return attached


def attach(training, user):
    """Attach a training to the driver's account; issue the certificate when it gives the right to a CQC (PDFs: publish)."""
    Training.update(user=user).where(Training.id == training.id).execute()
    training.user = user
    return issue_certificate(training) if training.kind in CARD_TRAININGS else None


def issue_certificate(training):
    """Issue the 4-month qualification certificate of a training, counted from the training's end (its PDF: publish)."""
    return Certificate.create(
        training=training,
        user=training.user,
        issued_on=training.end_date,
        expires_on=deadlines.add_months(training.end_date, deadlines.CERTIFICATE_VALIDITY_MONTHS),
    )


def publish(training):
    """Make and store the PDFs of an attached training (summary, certificate), then tell the driver; return whether done.

    Runs outside any transaction. A PDF that cannot be made is logged and left to publish_pending().
    """
    try:
        return _publish(training)
    except RuntimeError:
        current_app.logger.exception("Formation %s : PDF non produit, nouvel essai par la tâche « certificates »", training.id)
        return False


def _publish(training):
    certificate = Certificate.get_or_none(Certificate.training == training.id)
    summary_path = storage.store(documents.summary_pdf(training), "recapitulatifs", ".pdf")
    certificate_path = None
    try:
        if certificate is not None:
            certificate_path = storage.store(documents.certificate_pdf(certificate), "certificats", ".pdf")
    except RuntimeError:
        storage.delete(summary_path)
        raise
    with db.atomic():
        stored = Training.update(summary_path=summary_path).where(
            Training.id == training.id, Training.summary_path.is_null()).execute()
        if not stored:  # another process published it first: keep theirs
            for path in (summary_path, certificate_path):
                if path:
                    storage.delete(path)
            return False
        training.summary_path = summary_path
        if certificate is not None:
            Certificate.update(pdf_path=certificate_path).where(Certificate.id == certificate.id).execute()
            certificate.pdf_path = certificate_path
        notices.training_recorded(training, certificate)
    return True


#: Trainings published per run at most: each costs two PDFs (about 0.6 s), and a run must end within minutes
#: whatever the backlog (the national data set holds 1.7 million): the hourly runs drain it, the oldest first.
PUBLISH_PER_RUN = 200


def publish_pending():
    """Publish the attached trainings whose PDFs are not made yet (wkhtmltopdf failed, a process stopped), the oldest
    first and PUBLISH_PER_RUN at most; return how many."""
    pending = (Training.select().where(Training.user.is_null(False), Training.summary_path.is_null())
               .order_by(Training.id).limit(PUBLISH_PER_RUN))
    return sum(1 for training in pending if publish(training))


#: Certificates warned at most per run (12,000 a day; about 550 certificates end each day at national scale).
WARNINGS_PER_RUN = 500


def warn_expiring():
    """Warn drivers whose certificate ends soon and who sent no CQC request for its training."""
    from models import CqcRequest, RequestState

    limit = clock.today() + deadlines.CERTIFICATE_WARNING
    # NOT EXISTS (an anti-join on the request's training index), never NOT IN over every request sent.
    sent = (
        CqcRequest.select(SQL("1"))
        .join(Dossier)
        .where(CqcRequest.training == Certificate.training,
               Dossier.state.not_in([RequestState.BROUILLON, RequestState.ANNULEE]))
    )
    due = Certificate.select().where(
        Certificate.warned_at.is_null(),
        Certificate.expired_at.is_null(),
        Certificate.expires_on <= limit,
        Certificate.expires_on >= clock.today(),
        ~fn.EXISTS(sent),
    )
    count = 0
    # The soonest ends first, WARNINGS_PER_RUN at most: the hourly runs drain any backlog within the day.
    for certificate in due.order_by(Certificate.expires_on, Certificate.id).limit(WARNINGS_PER_RUN):
        with db.atomic():
            notices.certificate_expiring(certificate)
            Certificate.update(warned_at=clock.now()).where(Certificate.id == certificate.id).execute()
        count += 1
    return count


def expire():
    """Mark expired the certificates past their end date."""
    return (
        Certificate.update(expired_at=clock.now())
        .where(Certificate.expired_at.is_null(), Certificate.expires_on < clock.today())
        .execute()
    )
