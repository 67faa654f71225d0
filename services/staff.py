"""Staff accounts: local administrators and agents, their habilitations."""
from models import Habilitation, Staff, StaffRole, TokenPurpose, normalize_email
from services import audit, outbox, tokens
from services.addresses import check_email_free
from services.errors import Refused


def create(email, role, first_name, last_name, created_by):
    """Create a staff account and e-mail its activation link (valid 48 h)."""
    email = normalize_email(email)
    if role not in (StaffRole.LOCAL_ADMIN, StaffRole.AGENT):
        raise Refused("Rôle inconnu.", "role")
    check_email_free(email, staff_too=True)
    member = Staff.create(email=email, role=role, first_name=first_name, last_name=last_name, created_by=created_by)
    send_activation(member)
    audit.record("Création d'un compte IN Groupe", email, member.role_label, staff=created_by)
    return member


def send_activation(member, subject="Activez votre compte du back-office Hub Pro Transport"):
    """Queue the activation e-mail of a staff account (a reset link once it has a password)."""
    reset = bool(member.password_hash)
    raw = tokens.issue(TokenPurpose.RESET_STAFF if reset else TokenPurpose.ACTIVATE_STAFF, staff=member)
    outbox.queue_email(member.email, "staff_activation", subject, member=member, reset=reset,
                       link=outbox.public_url("password.welcome", token=raw))


def resend_activation(member, by):
    """E-mail a fresh activation link (the old one dies), and write who sent it in the audit log."""
    send_activation(member)
    audit.record("Lien d'activation renvoyé", member.email, staff=by)


def send_reset(member):
    """Queue a staff password reset link (« Mot de passe oublié »)."""
    send_activation(member, "Mot de passe du back-office Hub Pro Transport")


def set_reference_data(member, granted, by):
    """Give or withdraw the habilitation « Données de référence »; a change is written in the audit log."""
    if member.manages_reference_data == granted:
        return
    Staff.update(manages_reference_data=granted).where(Staff.id == member.id).execute()
    member.manages_reference_data = granted
    audit.record("Habilitation « Données de référence » " + ("accordée" if granted else "retirée"), member.email, staff=by)


def set_habilitations(member, procedures, by):
    """Give an agent exactly these procedures."""
    wanted = {p.id for p in procedures}
    current = {h.procedure_id for h in member.habilitations}
    Habilitation.delete().where(
        Habilitation.staff == member, Habilitation.procedure.not_in(list(wanted) or [0])
    ).execute()
    for procedure_id in wanted - current:
        Habilitation.create(staff=member, procedure=procedure_id)
    if wanted != current:
        names = ", ".join(sorted(p.name for p in procedures)) or "aucune"
        audit.record("Habilitations modifiées", member.email, names, staff=by)
