"""What each event tells people: the e-mails, SMS and home-page notifications it queues."""
from models import TokenPurpose
from services import outbox, tokens


def password_link(user, purpose=TokenPurpose.CREATE_PASSWORD):
    """Queue the « Créer mon mot de passe » (or reset) e-mail with a fresh single-use link."""
    raw = tokens.issue(purpose, user=user)
    creating = purpose == TokenPurpose.CREATE_PASSWORD
    outbox.queue_email(
        user.email,
        "password_link",
        "Créez votre mot de passe Hub Pro Transport" if creating else "Réinitialisation de votre mot de passe",
        user=user,
        creating=creating,
        link=outbox.public_url("password.welcome", token=raw),
    )


def correction_link(user, anomalies):
    """Queue the e-mail that invites a driver to correct a non-compliant account."""
    raw = tokens.issue(TokenPurpose.CORRECTION, user=user)
    outbox.queue_email(
        user.email,
        "account_to_correct",
        "Votre demande de création de compte est à corriger",
        user=user,
        anomalies=anomalies,
        link=outbox.public_url("accounts.correct", token=raw),
    )


def account_accepted(dossier, event):
    """Conforme: the driver may now create a password."""
    password_link(dossier.user)


def account_rejected(dossier, event):
    """Non conforme: the driver is told what to correct."""
    correction_link(dossier.user, list(dossier.open_anomalies()))
