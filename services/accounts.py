"""Public accounts: creation, the analysis of driver accounts, and their correction."""
import datetime as dt

from peewee import IntegrityError

from models import (
    ProcedureCode,
    AccountState,
    Anomaly,
    Approval,
    Consent,
    DRIVER_FIELDS,
    Dossier,
    Driver,
    Invitation,
    OrgKind,
    Organisation,
    Role,
    Staff,
    TokenPurpose,
    User,
    db,
    normalize_email,
)
from models import clock
from services import audit, legal, notices, outbox, sirene, staff, trainings, transitions
from services.addresses import check_email_free
from services.errors import Refused


def record_consents(user, consents):
    """Record the boxes an account ticked, (code, label) each, with the version of the document each accepts."""
    for code, label in consents:
        Consent.create(user=user, code=code, label=label, version=legal.version_of(code))


# --- Drivers -----------------------------------------------------------------------------------


def register_driver(identity, consents):
    """Create a driver account and its analysis file; staff analyse it within 24 h."""
    email = normalize_email(identity.pop("email"))
    check_email_free(email)
    user_fields = {k: identity.pop(k) for k in ("last_name", "first_name")}
    try:
        with db.atomic():
            user = User.create(email=email, role=Role.DRIVER, **user_fields)
            Driver.create(user=user, **identity)
            record_consents(user, consents)
            transitions.open_dossier(ProcedureCode.COMPTE_PARTICULIER, user, comment="Demande de création de compte")
            outbox.queue_email(
                email, "account_received", "Votre demande de création de compte Hub Pro Transport", user=user
            )
            audit.record("Création de compte particulier", email, user=user)
    except IntegrityError:
        raise Refused("Cette adresse électronique est déjà associée à un compte Hub Pro Transport.", "email")
    return user


def field_value(user, field):
    """Return a driver field as text, the way staff and the driver read it."""
    holder = user if field in ("last_name", "first_name") else user.driver
    value = getattr(holder, field)
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return value or ""


def accept(dossier, staff):
    """Declare an account compliant: the driver receives « Créer mon mot de passe » and the trainings recorded before."""
    with db.atomic():
        transitions.transition(dossier, "accept", staff=staff, comment="Analyse conforme")
        attached = trainings.attach_pending(dossier.user)
        audit.record("Compte déclaré conforme", dossier.user.email, staff=staff)
    for training in attached:  # their PDFs once the acceptance is committed
        trainings.publish(training)


def reject(dossier, staff, reasons):
    """Declare an account non-compliant, with a reason per wrong field; the driver is asked to correct."""
    reasons = {field: reason.strip() for field, reason in reasons.items() if field in DRIVER_FIELDS}
    if not reasons or not all(reasons.values()):
        raise Refused("Indiquez au moins un champ non conforme et la raison pour chacun.")
    with db.atomic():
        for field, reason in reasons.items():
            Anomaly.create(dossier=dossier, field=field, reason=reason, old_value=field_value(dossier.user, field))
        summary = "; ".join(f"{DRIVER_FIELDS[f]} : {r}" for f, r in reasons.items())
        transitions.transition(dossier, "reject", staff=staff, comment=summary)
        audit.record("Compte déclaré non conforme", dossier.user.email, summary, staff=staff)


def correct(user, values):
    """Apply the driver's corrections to the fields staff flagged and send the account back to analysis."""
    dossier = Dossier.account_of(user)
    anomalies = list(dossier.open_anomalies())
    driver = user.driver
    with db.atomic():
        for anomaly in anomalies:
            value = values[anomaly.field]
            holder = user if anomaly.field in ("last_name", "first_name") else driver
            setattr(holder, anomaly.field, value)
        user.save()
        driver.save()
        now = clock.now()
        for anomaly in anomalies:
            Anomaly.update(new_value=field_value(user, anomaly.field), corrected_at=now).where(
                Anomaly.id == anomaly.id
            ).execute()
        transitions.transition(dossier, "resubmit", user=user, comment="Informations corrigées par le titulaire")
        audit.record("Correction du compte par le titulaire", user.email, user=user)


def activate_if_compliant(user):
    """Move a compliant driver account to « actif » once its password is set."""
    dossier = Dossier.account_of(user)
    if dossier is not None and dossier.state == AccountState.CONFORME:
        transitions.transition(dossier, "activate", user=user, comment="Mot de passe créé")


def can_log_in(user):
    """May this public account log in? It needs a password, and a driver an accepted analysis."""
    if not user.password_hash:
        return False
    dossier = Dossier.account_of(user) if user.role == Role.DRIVER else None
    return dossier is None or dossier.state in (AccountState.CONFORME, AccountState.ACTIVE)


# --- Organisations -----------------------------------------------------------------------------


def check_organisation(raw_siret, kind=OrgKind.CENTRE):
    """Return (siret, establishment) when this SIRET may open an account, else raise Refused saying why."""
    try:
        siret = sirene.normalize_siret(raw_siret)
    except sirene.InvalidSiret as error:
        raise Refused(str(error), "siret")
    if Organisation.select().where(Organisation.siret == siret).exists():
        raise Refused(
            "Un compte Hub Pro Transport existe déjà pour ce SIRET : un seul compte est possible par SIRET.",
            "siret",
        )
    try:
        establishment = sirene.lookup(siret)
    except sirene.SireneUnavailable as error:
        raise Refused(f"{error} Le contrôle du SIRET est impossible pour l'instant : réessayez dans quelques minutes.", "siret")
    if establishment is None:
        raise Refused("Ce numéro de SIRET est inconnu de la base INSEE (Sirene).", "siret")
    if not establishment.active:
        raise Refused(
            "Cet établissement est fermé dans la base INSEE (Sirene) : seul un SIRET actif permet de créer un compte.",
            "siret",
        )
    if kind == OrgKind.CENTRE and not Approval.exists_for(siret):
        raise Refused(
            "Aucun agrément n'est enregistré pour ce SIRET dans le référentiel des agréments : "
            "un centre de formation doit disposer d'au moins un agrément.",
            "siret",
        )
    return siret, establishment


def register_organisation(kind, raw_siret, last_name, first_name, email, consents=()):
    """Create an organisation and its administrator's account (with the boxes it ticked), and e-mail the password link."""
    siret, establishment = check_organisation(raw_siret, kind)
    email = normalize_email(email)
    check_email_free(email)
    try:
        with db.atomic():
            organisation = Organisation.create(kind=kind, siret=siret, name=establishment.name or siret)
            user = User.create(
                email=email, role=Role.ORG_ADMIN, organisation=organisation, last_name=last_name, first_name=first_name
            )
            record_consents(user, consents)
            notices.password_link(user)
            audit.record(f"Création de compte {kind}", siret, email, user=user)
            if kind == OrgKind.CENTRE:
                _attach_if_invited(organisation)
    except IntegrityError:
        # Another creation of the same SIRET or address won the race: say which.
        if Organisation.select().where(Organisation.siret == siret).exists():
            raise Refused("Un compte Hub Pro Transport existe déjà pour ce SIRET : un seul compte est possible par SIRET.", "siret")
        raise Refused("Cette adresse électronique est déjà associée à un compte Hub Pro Transport.", "email")
    return user


def _attach_if_invited(centre):
    """Attach a new centre to the principal establishment that invited it, and tell the principal's administrators."""
    invitation = Invitation.get_or_none(Invitation.siret == centre.siret, Invitation.attached_at.is_null())
    if invitation is None:
        return
    Organisation.update(principal=invitation.principal).where(Organisation.id == centre.id).execute()
    centre.principal = invitation.principal
    Invitation.update(organisation=centre, attached_at=clock.now()).where(Invitation.id == invitation.id).execute()
    message = (f"Le centre {centre.name} (SIRET {centre.siret}) a créé son compte : il est rattaché à votre contrat CQC "
               "et ses CQC vous seront facturées.")
    for admin in invitation.principal.administrators():
        outbox.notify(admin, message, link=outbox.public_url("contract.index"), template="notification",
                      subject="Un établissement est rattaché à votre contrat CQC", details=[])


def send_password_help(email):
    """Answer « Mot de passe oublié »: send what this address needs, if it has an account (silently)."""
    email = normalize_email(email)
    user = User.get_or_none(User.email == email)
    if user is not None:
        dossier = Dossier.account_of(user) if user.role == Role.DRIVER else None
        if dossier is not None and dossier.state == AccountState.A_CORRIGER:
            notices.correction_link(user, list(dossier.open_anomalies()))
        elif dossier is not None and dossier.state == AccountState.EN_ANALYSE:
            outbox.queue_email(email, "account_in_analysis", "Votre compte est en cours d'analyse", user=user)
        else:
            purpose = TokenPurpose.RESET_PASSWORD if user.password_hash else TokenPurpose.CREATE_PASSWORD
            notices.password_link(user, purpose)
        audit.record("Mot de passe oublié", email, user=user)
        return
    member = Staff.get_or_none(Staff.email == email, Staff.active == True)  # noqa: E712
    if member is not None:
        staff.send_reset(member)
