"""What each event tells people: the e-mails, SMS and home-page notifications it queues."""
from models import Contract, Notification, ProcedureCode, TokenPurpose
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


# --- Requests and cards: a home-page notification and an e-mail (and an SMS where said) --------


def _tell(user, message, endpoint, subject, *, details=(), sms_text=None):
    outbox.notify(
        user, message, link=outbox.public_url(endpoint), template="notification", subject=subject,
        details=list(details), sms_text=sms_text,
    )


#: An organisation's contracts, by the name their holders read (« Votre contrat TACHY … »).
CONTRACTS = {ProcedureCode.CONTRAT_TACHY: "TACHY", ProcedureCode.CONTRAT_CQC: "CQC"}


def request_submitted(dossier, event):
    contract = CONTRACTS.get(dossier.procedure.code)
    if contract:
        _tell(dossier.user, f"Votre contrat {contract} a été pris en compte avec succès. "
              "Votre numéro de contrat vous sera communiqué d'ici 24 heures.",
              "contract.index", f"Votre contrat {contract} a été pris en compte")
        return
    _tell(dossier.user, f"Votre demande n° {dossier.id} ({dossier.procedure.name}) est envoyée pour traitement.",
          "requests.index", "Votre demande est envoyée pour traitement")


def request_taken(dossier, event):
    _tell(dossier.user, f"Votre demande n° {dossier.id} est en cours d'instruction par IN Groupe.",
          "requests.index", "Votre demande est en cours d'instruction")


def info_requested(dossier, event):
    items = [f"{a.field_label} : {a.reason}" for a in dossier.open_anomalies()]
    _tell(
        dossier.user,
        f"Votre demande n° {dossier.id} requiert une information complémentaire.",
        "requests.index",
        "Votre demande requiert une information complémentaire",
        details=items,
        sms_text=(
            f"Hub Pro Transport : votre demande n° {dossier.id} requiert une information complémentaire. "
            "Rendez-vous sur votre espace pour y répondre."
        ),
    )


def request_accepted(dossier, event):
    contract = CONTRACTS.get(dossier.procedure.code)
    if contract:
        number = Contract.get(Contract.dossier == dossier.id).number
        then = " Vous pouvez désormais faire vos demandes de cartes tachygraphe." if contract == "TACHY" else ""
        _tell(dossier.user, f"Votre contrat {contract} est enregistré sous le numéro {number}.{then}",
              "contract.index", f"Votre numéro de contrat {contract} : {number}")
        return
    # A paid re-dispatch orders no card: the returned one leaves again (card_shipped says where).
    outcome = "votre carte est réexpédiée" if dossier.procedure.code == ProcedureCode.CQC_PND else "votre carte est en fabrication"
    _tell(dossier.user, f"Votre demande n° {dossier.id} est acceptée : {outcome}.",
          "requests.index", "Votre demande est acceptée")


def request_rejected(dossier, event):
    _tell(dossier.user, f"Votre demande n° {dossier.id} est refusée. Motif : {event.comment}",
          "requests.index", "Votre demande est refusée")


def _card_news(card, message, subject, **extra):
    """Tell a card's holder: the driver who holds a CQC, or who asked for an organisation's card (its administrators
    if that member left)."""
    if card.user_id is not None:
        _tell(card.user, message, "cards.index", subject, **extra)
    else:
        _tell(card.dossier.user, message, "cards.index", subject, **extra)


def _named(card):
    """« Votre carte n° X » for a driver; « La carte tachygraphe conducteur n° X de Paul MARTIN » for an organisation."""
    if card.user_id is not None:
        return f"Votre carte n° {card.number}"
    holder = f" de {card.first_name.title()} {card.last_name}" if card.first_name else ""
    return f"La {card.kind_label.lower()} n° {card.number}{holder}"


def card_shipped(card, event):
    how = " par lettre recommandée" if card.user_id is None else ""
    subject = "Votre carte est expédiée" if card.user_id else f"{card.kind_label} expédiée"
    _card_news(card, f"{_named(card)} a été expédiée{how}.", subject, details=card.delivery_lines.splitlines())


def card_returned(card, event):
    if card.user_id is not None:
        message = (f"Votre carte n° {card.number} est revenue à IN Groupe en pli non distribué : confirmez ou modifiez "
                   "votre adresse.")
    else:
        message = (f"{_named(card)} est revenue à IN Groupe en pli non distribué : confirmez l'adresse d'expédition "
                   "dans « Mes Cartes ».")
    subject = "Votre carte est revenue en pli non distribué" if card.user_id else f"{card.kind_label} revenue en pli non distribué"
    _card_news(card, message, subject)


def renewal_due(card):
    """A tachograph card enters its last 3 months: the organisation is offered its renewal."""
    _card_news(card, f"{_named(card)} expire le {card.expires_on:%d/%m/%Y} : demandez son renouvellement depuis "
               "« Mes Cartes ».", f"{card.kind_label} à renouveler")


def training_recorded(training, certificate):
    """A new summary (and certificate) is on the driver's account; the certificate goes as a PDF attachment."""
    message = f"Un nouveau récapitulatif de formation « {training.title} » est disponible dans « Mes formations »."
    attachments = []
    if certificate is not None:
        message += (
            " Votre certificat de qualification, valable jusqu'au "
            f"{certificate.expires_on.strftime('%d/%m/%Y')}, est joint à ce message et disponible dans « Mes certificats » :"
            " faites votre demande de CQC avant cette date."
        )
        attachments = [(certificate.pdf_path, f"certificat-de-qualification-{certificate.id}.pdf", "application/pdf")]
    Notification.create(user=training.user, message=message, link=outbox.public_url("trainings.index"))
    outbox.queue_email(
        training.user.email, "notification",
        "Votre certificat de qualification" if certificate else "Nouveau récapitulatif de formation",
        attachments=attachments, user=training.user, message=message, details=[],
        link=outbox.public_url("trainings.certificates" if certificate else "trainings.index"),
    )


def certificate_expiring(certificate):
    _tell(
        certificate.user,
        f"Votre certificat de qualification expire le {certificate.expires_on.strftime('%d/%m/%Y')} et aucune demande "
        "de CQC n'a été envoyée : faites votre demande dans « Mes demandes » avant cette date.",
        "requests.index",
        "Votre certificat de qualification expire bientôt",
    )
