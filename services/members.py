"""An organisation's people (« Mes Gestionnaires »): its administrators, deputy administrators and managers.

An administrator designates managers and deputies; a deputy has exactly the administrator's rights.
The organisation always keeps one administrator, and nobody deletes or demotes themselves.
"""
from peewee import IntegrityError

from models import ADMIN_ROLES, Organisation, Role, Token, User, db, normalize_email
from models import clock
from services import audit, notices
from services.addresses import check_email_free
from services.errors import Refused

#: What a member's record holds besides the address and the rights (all required, guide 000).
FIELDS = ("last_name", "first_name", "function", "phone")
LAST_ADMIN = "Votre établissement doit conserver au moins un administrateur : désignez-en d'abord un autre."
TAKEN = "Cette adresse électronique est déjà associée à un compte Hub Pro Transport."


def members_of(organisation):
    """Return (managers, administrators) in office, each by last name."""
    people = list(
        organisation.members.where(User.deleted_at.is_null()).order_by(User.last_name, User.first_name, User.id)
    )
    return [p for p in people if not p.is_org_admin], [p for p in people if p.is_org_admin]


def member_of(organisation, member_id):
    """Return a member in office of this organisation, or None (another organisation's is nobody here)."""
    return User.get_or_none(User.id == member_id, User.organisation == organisation, User.deleted_at.is_null())


def designate(organisation, by, values, *, admin):
    """Create a manager (or a deputy administrator) and e-mail the link to create a password (48 h)."""
    email = normalize_email(values["email"])
    check_email_free(email)
    role = Role.ORG_DEPUTY if admin else Role.ORG_MANAGER
    try:
        with db.atomic():
            member = User.create(email=email, role=role, organisation=organisation,
                                 **{name: values[name] for name in FIELDS})
            notices.password_link(member)
            audit.record(f"{member.role_label} désigné", email, organisation.siret, user=by)
    except IntegrityError:  # the same address taken meanwhile
        raise Refused(TAKEN, "email")
    return member


def modify(member, by, values, *, admin):
    """Change a member's name, function, phone and rights (never the address)."""
    with db.atomic():
        _lock(member.organisation)
        if member.is_org_admin and not admin:
            if member.id == by.id:
                raise Refused("Vous ne pouvez pas retirer vos propres droits d'administrateur : "
                              "demandez-le à un autre administrateur.", "admin")
            _keep_an_administrator(member)
        role = member.role if admin and member.is_org_admin else (Role.ORG_DEPUTY if admin else Role.ORG_MANAGER)
        changes = {name: values[name] for name in FIELDS}
        User.update(role=role, **changes).where(User.id == member.id).execute()
        audit.record("Gestionnaire modifié", member.email,
                     f"droits : {'administrateur' if admin else 'gestionnaire'}", user=by)


def can_resend_link(member):
    """Is the password link still the member's way in (no password created yet)?"""
    return member.password_hash is None


def resend(member, by):
    """E-mail a fresh password link to a member who has not created a password (the old link dies)."""
    if not can_resend_link(member):
        raise Refused(f"{member.full_name} a déjà créé son mot de passe : en cas d'oubli, "
                      "il utilise « Mot de passe oublié » sur la page de connexion.")
    with db.atomic():
        notices.password_link(member)
        audit.record("Lien de création de mot de passe renvoyé", member.email, user=by)


def remove(member, by):
    """Delete a member: access ends at once, open sessions included; what they did stays attributed to them.

    The row stays (under a closed address) so history, trainings and requests keep their author; the
    address itself is freed, so that a wrong one can be corrected by deleting and designating again.
    """
    if member.id == by.id:
        raise Refused("Vous ne pouvez pas supprimer votre propre compte : demandez-le à un autre administrateur.")
    with db.atomic():
        _lock(member.organisation)
        if member.is_org_admin:
            _keep_an_administrator(member)
        now = clock.now()
        User.update(deleted_at=now, deleted_email=member.email, email=f"{member.id}.supprime@comptes.invalid",
                    password_hash=None).where(User.id == member.id).execute()
        member.end_sessions()
        Token.update(used_at=now).where(Token.user == member.id, Token.used_at.is_null()).execute()
        audit.record(f"{member.role_label} supprimé", member.email, member.full_name, user=by)


def _lock(organisation):
    """Serialise changes to an organisation's people (two administrators deleting each other at once)."""
    # A no-op UPDATE takes the row lock on PostgreSQL and the write lock on SQLite, until the transaction ends.
    Organisation.update(name=Organisation.name).where(Organisation.id == organisation.id).execute()


def _keep_an_administrator(member):
    others = (
        User.select()
        .where(User.organisation == member.organisation_id, User.role.in_(ADMIN_ROLES),
               User.deleted_at.is_null(), User.id != member.id)
    )
    if not others.exists():
        raise Refused(LAST_ADMIN, "admin")
