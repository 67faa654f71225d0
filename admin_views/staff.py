"""« Agents »: the local administrator creates agent accounts and gives them habilitations."""
from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.form import BaseForm
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length

from admin_views.base import StaffModelView, when
from models import Habilitation, Procedure, Staff, StaffRole, STAFF_ROLE_LABELS, db
from services import staff as staff_service
from services.errors import Refused

REQUIRED = "Ce champ est obligatoire."


def _procedure_choices():
    return [(p.id, p.name) for p in Procedure.select().order_by(Procedure.id)]


class AgentEditForm(BaseForm):
    first_name = StringField("Prénom", [DataRequired(REQUIRED), Length(max=120)])
    last_name = StringField("Nom", [DataRequired(REQUIRED), Length(max=120)])
    procedures = SelectMultipleField("Habilitations (démarches)", coerce=int)
    manages_reference_data = BooleanField(
        "Données de référence (agréments, registre Sirene, nouveautés, tarifs, démarches, abonnements)"
    )
    active = BooleanField("Compte actif")


class AgentCreateForm(AgentEditForm):
    email = StringField("Adresse électronique", [DataRequired(REQUIRED), Email("Adresse électronique invalide.")])
    role = SelectField(
        "Rôle", choices=[(StaffRole.AGENT.value, "Agent instructeur"), (StaffRole.LOCAL_ADMIN.value, "Administrateur local")]
    )


def _habilitations(view, context, member, name):
    if member.is_local_admin:
        return "Toutes (administrateur local)"
    procedures = (Procedure.select(Procedure.name).join(Habilitation)
                  .where(Habilitation.staff == member).order_by(Procedure.id))
    return ", ".join(p.name for p in procedures) or "—"


def _reference_data(view, context, member, name):
    if member.is_local_admin:
        return "Oui (administrateur local)"
    return "Oui" if member.manages_reference_data else "Non"


def _status(view, context, member, name):
    if not member.active:
        return Markup('<span class="badge badge-secondary">Désactivé</span>')
    if not member.password_hash:
        url = url_for(".resend", member_id=member.id)
        return Markup(
            f'<span class="badge badge-warning">Activation en attente</span> '
            f'<form method="post" action="{url}" style="display:inline">'
            f'<input type="hidden" name="csrf_token" value="{escape(context.resolve("csrf_token")())}">'
            f'<button class="btn btn-link btn-sm p-0" type="submit">Renvoyer le lien</button></form>'
        )
    return Markup('<span class="badge badge-success">Actif</span>')


class StaffView(StaffModelView):
    """Local administrators and agents of the instructing service."""

    local_admin_only = True
    column_list = ("last_name", "first_name", "email", "role", "manages_files", "habilitations", "reference_data", "status",
                   "last_login_at")
    column_labels = {
        "last_name": "Nom",
        "first_name": "Prénom",
        "email": "Adresse électronique",
        "role": "Rôle",
        "manages_files": "Gestion des télédossiers",
        "habilitations": "Habilitations",
        "reference_data": "Données de référence",
        "status": "Compte",
        "last_login_at": "Dernière connexion",
    }
    column_formatters = {
        "role": lambda v, c, m, n: STAFF_ROLE_LABELS.get(m.role, m.role),
        "habilitations": _habilitations,
        "reference_data": _reference_data,
        "status": _status,
        "last_login_at": when("last_login_at"),
    }
    column_searchable_list = (Staff.last_name, Staff.email)
    search_hint = "Nom ou adresse électronique"
    column_default_sort = ("last_name", False)

    def get_create_form(self):
        return AgentCreateForm

    def get_edit_form(self):
        return AgentEditForm

    def create_form(self, obj=None):
        form = super().create_form(obj)
        form.procedures.choices = _procedure_choices()
        if request.method == "GET":
            form.active.data = True
        return form

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        form.procedures.choices = _procedure_choices()
        if request.method == "GET" and obj is not None:
            form.procedures.data = [h.procedure_id for h in obj.habilitations]
        return form

    def _chosen(self, form):
        return list(Procedure.select().where(Procedure.id.in_(form.procedures.data or [0])))

    def create_model(self, form):
        """Create the account and e-mail its 48-hour activation link."""
        try:
            with db.atomic():
                member = staff_service.create(
                    form.email.data, form.role.data, form.first_name.data.strip(), form.last_name.data.strip(),
                    created_by=current_user._get_current_object(),
                )
                member.active = form.active.data
                member.save()
                staff_service.set_habilitations(member, self._chosen(form), current_user._get_current_object())
                staff_service.set_reference_data(member, form.manages_reference_data.data, current_user._get_current_object())
        except Refused as refusal:
            form.email.errors.append(refusal.message)
            flash(refusal.message, "error")
            return False
        flash(f"Compte créé : le lien d'activation (valable 48 h) est envoyé à {member.email}.", "success")
        return member

    def update_model(self, form, member):
        with db.atomic():
            member.first_name = form.first_name.data.strip()
            member.last_name = form.last_name.data.strip()
            if member.id != current_user.id:  # nobody locks themselves out
                member.active = form.active.data
            member.save()
            staff_service.set_habilitations(member, self._chosen(form), current_user._get_current_object())
            staff_service.set_reference_data(member, form.manages_reference_data.data, current_user._get_current_object())
        return True

    @expose("/renvoyer/<int:member_id>", methods=["POST"])
    def resend(self, member_id):
        """Send a new activation link to a staff member who has not activated the account (written in the audit log)."""
        member = Staff.get_or_none(Staff.id == member_id) or abort(404)
        with db.atomic():
            staff_service.resend_activation(member, current_user._get_current_object())
        flash(f"Un nouveau lien d'activation est envoyé à {member.email}.", "success")
        return redirect(url_for(".index_view"))
