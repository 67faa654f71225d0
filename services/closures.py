"""« Fermer mon compte » (RGPD, right to erasure): the account stops, personal data goes, what the law keeps stays.

The account's row stays, anonymised, because invoices, the card register and the audit log name it; its address is
freed. What it kept and why is shown on the final page and e-mailed to the address it had.
"""
from models import (
    ADMIN_ROLES, Card, CardState, Certificate, Consent, DataExport, Dossier, Driver, Notification, Organisation,
    OutboxMessage, OutboxStatus, Procedure, RequestState, Token, Training, User, db,
)
from models import clock
from services import audit, outbox, passwords, retention, storage, throttle, transitions
from services.errors import Refused

#: What a closed account keeps, and why (the final page and the e-mail say it).
KEPT = [
    ("Vos factures et avoirs", "conservés 10 ans, comme le code de commerce l'exige (article L123-22), avec le nom et "
                               "l'adresse de facturation qu'ils portent, et les paiements qu'ils constatent."),
    ("Le registre des cartes délivrées", "le numéro, le titulaire tel qu'imprimé sur la carte (nom, prénoms, date et lieu "
                                         "de naissance, numéro de permis) et la validité de chaque carte émise restent au "
                                         "registre des titres, que les contrôles consultent pendant la validité de la carte."),
    ("Le journal d'audit", "les opérations faites sur votre compte y restent 5 ans, pour la sécurité de la plateforme ; "
                           "ce journal ne peut pas être modifié."),
    ("Les formations déclarées par un centre", "elles restent au registre du centre de formation qui les a dispensées, "
                                               "sans lien avec votre compte."),
]
#: What an organisation's member keeps besides: the organisation's files are the organisation's.
KEPT_FOR_MEMBERS = [
    ("Les demandes faites pour votre organisme", "elles appartiennent à l'organisme, qui les conserve ; elles restent "
                                                 "attribuées à un compte fermé, sans vos nom ni coordonnées."),
]
#: What closing erases, as the confirmation page lists it.
ERASED = [
    "votre identité et vos coordonnées (nom, prénoms, date et lieu de naissance, adresse, téléphone, permis de conduire)",
    "vos pièces justificatives, photos et signatures, et le contenu de vos demandes (les demandes non envoyées sont annulées)",
    "vos certificats et récapitulatifs de formation",
    "vos notifications, vos consentements, vos exports de données et le texte des messages qui vous ont été envoyés",
]
#: A driver's file in these states is in staff's hands, a card in these states on its way: closing waits for them.
UNDER_WAY = (RequestState.ENVOYEE, RequestState.EN_INSTRUCTION, RequestState.ATTENTE_COMPLEMENT)
CARDS_ON_THEIR_WAY = (CardState.EN_FABRICATION, CardState.EXPEDIEE, CardState.PND)
WRONG_PASSWORD = "Mot de passe incorrect : votre compte n'a pas été fermé."
LOCKED = "Trop de mots de passe erronés : réessayez dans quelques minutes."


def kept_for(user):
    """Return (what, why) of everything a closed account keeps."""
    return KEPT + (KEPT_FOR_MEMBERS if user.organisation_id is not None else [])


def refusal(user):
    """Return why this account cannot be closed now, in French, or None."""
    if user.organisation_id is not None:
        others = User.select().where(User.organisation == user.organisation_id, User.role.in_(ADMIN_ROLES),
                                     User.deleted_at.is_null(), User.id != user.id)
        if user.is_org_admin and not others.exists():
            return (f"Vous êtes le dernier administrateur de {user.organisation.name} : désignez d'abord un autre "
                    "administrateur dans « Mes Gestionnaires », qui pourra ensuite supprimer votre compte, ou "
                    "demandez la fermeture du compte de l'organisme au service de délivrance.")
        return None
    sent = Dossier.select(Dossier.id).where(Dossier.user == user.id, Dossier.state.in_(UNDER_WAY)).order_by(Dossier.id)
    numbers = [str(dossier.id) for dossier in sent]
    if numbers:
        return (f"Votre demande n° {', '.join(numbers)} est en cours d'instruction : attendez sa décision pour fermer "
                "votre compte.")
    if Card.select().where(Card.user == user.id, Card.state.in_(CARDS_ON_THEIR_WAY)).exists():
        return "Une de vos cartes est en fabrication ou en cours d'acheminement : attendez sa livraison pour fermer votre compte."
    return None


def check_password(user, password):
    """Check the account's password before closing it; failures count as failed logins (and lock the same way)."""
    key = throttle.login_key(user)
    if throttle.locked_for(key):
        raise Refused(LOCKED, "password")
    if not passwords.verify(user.password_hash, password):
        throttle.fail(key)
        raise Refused(WRONG_PASSWORD, "password")


def close(user, password):
    """Close an account confirmed by its password: it can no longer log in, its personal data is erased; return what
    it keeps (what, why). Refused, saying why, while the rules forbid it."""
    check_password(user, password)
    email, driver = user.email, Driver.get_or_none(Driver.user == user.id)
    addresses = [address for address in (email, driver.mobile if driver else "") if address]
    files_kept = []
    with db.atomic():
        if user.organisation_id is not None:
            # Two administrators closing at once: the organisation's row lock makes the second one see the first.
            Organisation.update(name=Organisation.name).where(Organisation.id == user.organisation_id).execute()
        reason = refusal(user)
        if reason:
            raise Refused(reason)
        # The files opened for an organisation stay the organisation's; a driver's own files are erased.
        own = list(Dossier.select(Dossier, Procedure).join(Procedure)
                   .where(Dossier.user == user.id, Dossier.organisation.is_null()).order_by(Dossier.id))
        for draft in [dossier for dossier in own if dossier.state == RequestState.BROUILLON]:
            transitions.transition(draft, "cancel", user=user, comment="")
        if own:
            retention.erase_files(own)
        files_kept += [c.pdf_path for c in Certificate.select(Certificate.pdf_path).where(Certificate.user == user.id)]
        files_kept += [t.summary_path for t in Training.select(Training.summary_path).where(Training.user == user.id)]
        files_kept += [e.path for e in DataExport.select(DataExport.path).where(DataExport.user == user.id)]
        Certificate.delete().where(Certificate.user == user.id).execute()
        Training.update(user=None, summary_path=None).where(Training.user == user.id).execute()
        for model in (Driver, Consent, Notification, Token, DataExport):
            model.delete().where(model.user == user.id).execute()
        # The card register keeps what the card prints; where it was posted goes.
        Card.update(delivery_lines="").where(Card.user == user.id).execute()
        retention.erase_messages(OutboxMessage.select(OutboxMessage.id).where(
            OutboxMessage.recipient.in_(addresses), OutboxMessage.status != OutboxStatus.PENDING))
        User.update(email=f"{user.id}.ferme@comptes.invalid", deleted_email="", last_name="Compte fermé", first_name="",
                    function="", phone="", password_hash=None, last_login_at=None, deleted_at=clock.now()).where(
            User.id == user.id).execute()
        user.end_sessions()
        audit.record("Compte fermé par son titulaire", f"compte {user.id}", user=user)
        kept = kept_for(user)
        outbox.queue_email(email, "account_closed", "Votre compte Hub Pro Transport est fermé", kept=kept,
                           erased=ERASED)
    # Certificates, summaries and exports are erased once nothing names them any more.
    for path in files_kept:
        if path:
            storage.delete(path)
    return kept
