"""Trainings recorded by centres: the summary on the driver's account and the qualification certificate."""
from peewee import SQL, fn

from models import (
    ProcedureCode,
    AccountState, CARD_TRAININGS, Certificate, Dossier, Driver, Procedure, Training, User, db,
)
from models import clock, deadlines
from services import audit, documents, notices, storage


def record(centre, recorded_by, **data):
    """Record a training for a driver; attach it at once when the driver's account is accepted."""
    with db.atomic():
        training = Training.create(centre=centre, recorded_by=recorded_by, **data)
        audit.record("Formation déclarée", f"{training.title} – {training.licence_number}", user=recorded_by)
        user = matching_account(training.licence_number, training.birth_date)
        if user is not None:
            attach(training, user)
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
    """Attach to a newly accepted account the trainings recorded before it existed."""
    driver = user.driver
    pending = Training.select().where(
        Training.user.is_null(), Training.licence_number == driver.licence_number, Training.birth_date == driver.birth_date
    )
    for training in pending.order_by(Training.id):
        attach(training, user)


def attach(training, user):
    """Put the training summary on the driver's account; issue the certificate when it gives the right to a CQC."""
    training.user = user
    training.summary_path = storage.store(documents.summary_pdf(training), "recapitulatifs", ".pdf")
    training.save()
    certificate = issue_certificate(training) if training.kind in CARD_TRAININGS else None
    notices.training_recorded(training, certificate)
    return certificate


def issue_certificate(training):
    """Issue the 4-month qualification certificate of a training, counted from the training's end."""
    certificate = Certificate.create(
        training=training,
        user=training.user,
        issued_on=training.end_date,
        expires_on=deadlines.add_months(training.end_date, deadlines.CERTIFICATE_VALIDITY_MONTHS),
    )
    certificate.pdf_path = storage.store(documents.certificate_pdf(certificate), "certificats", ".pdf")
    certificate.save()
    return certificate


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
