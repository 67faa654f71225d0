"""What makes an organisation able to order: its contract's number (staff give it), and the centres attached to it."""
import re

from peewee import IntegrityError

from models import Approval, Contract, Invitation, OrgKind, clock, db
from services import accounts, audit, dossiers, outbox
from services.errors import Refused

NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9\-/]{2,29}$")


def give_number(dossier, staff, raw_number):
    """Record the contract number staff give: the file is accepted and the organisation is told the number."""
    number = re.sub(r"\s+", "", raw_number or "").upper()
    if not NUMBER.match(number):
        raise Refused("Saisissez le numéro de contrat : 3 à 30 lettres, chiffres, tirets ou barres obliques "
                      "(ex. TACHY-2026-00042).", "number")
    if Contract.select().where(Contract.number == number, Contract.dossier != dossier.id).exists():
        raise Refused(f"Le numéro {number} est déjà celui d'un autre contrat.", "number")
    try:
        with db.atomic():
            Contract.update(number=number, numbered_at=clock.now()).where(Contract.dossier == dossier.id).execute()
            dossiers.accept(dossier, staff)
    except IntegrityError:  # the same number given to another contract meanwhile
        raise Refused(f"Le numéro {number} est déjà celui d'un autre contrat.", "number")
    return number


# --- Centres attached to a principal establishment's CQC contract (guide 002, case 2) ---------------------


def invitations_of(principal):
    """Return the principal's invitations, newest first, with the centres attached from them."""
    return list(Invitation.select().where(Invitation.principal == principal).order_by(Invitation.id.desc()))


def invite(principal, by, raw_siret):
    """Invite an approved centre to attach to the principal's CQC contract: the centre's approval address receives
    the « Agrément CFA » notification of case 2, with the pre-filled creation link."""
    if principal.principal_id is not None or principal.contract_in_force() is None:
        raise Refused("Votre contrat CQC doit d'abord avoir son numéro pour y rattacher des établissements.")
    siret, establishment = accounts.check_organisation(raw_siret, OrgKind.CENTRE)
    pending = Invitation.get_or_none(Invitation.siret == siret, Invitation.attached_at.is_null())
    if pending is not None and pending.principal_id != principal.id:
        raise Refused("Ce centre est déjà invité à se rattacher au contrat d'un autre établissement principal.", "siret")
    approval = Approval.select().where(Approval.siret == siret).order_by(Approval.granted_on.desc()).first()
    with db.atomic():
        if pending is None:
            pending = Invitation.create(principal=principal, siret=siret, sent_to=approval.email, invited_by=by)
        outbox.queue_email(
            approval.email, "attachment_invitation", "Agrément CFA – rattachement au contrat d'un établissement principal",
            principal=principal, siret=siret, name=establishment.name,
            link=outbox.public_url("accounts.organisation", kind=OrgKind.CENTRE.value, siret=siret),
        )
        audit.record("Invitation de rattachement envoyée", siret, f"par {principal.siret}", user=by)
    return pending
