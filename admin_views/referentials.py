"""Reference data (approvals, the Sirene registry, procedures, subscriptions, news): local administrators keep it,
and the agents they give the habilitation « Données de référence »."""
import csv
import io

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.form import BaseForm
from wtforms import DateField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length, ValidationError

from admin_views.base import ReadOnlyView, StaffModelView, day, when
from models import Approval, Procedure, SireneEstablishment, Subscription, db
from services import approvals, audit, sirene

REQUIRED = "Ce champ est obligatoire."
TRAININGS = [("FIMO", "FIMO"), ("Passerelle", "Passerelle"), ("FCO", "FCO")]


def _valid_siret(form, field):
    try:
        field.data = sirene.normalize_siret(field.data)
    except sirene.InvalidSiret as error:
        raise ValidationError(str(error))


class ApprovalForm(BaseForm):
    siret = StringField("Numéro de SIRET", [DataRequired(REQUIRED), _valid_siret])
    number = StringField("Numéro d'agrément", [DataRequired(REQUIRED), Length(max=60)])
    category = SelectField("Type", choices=[("Marchandises", "Marchandises"), ("Voyageurs", "Voyageurs")])
    trainings = SelectMultipleField("Formations agréées", choices=TRAININGS, default=["FIMO", "Passerelle", "FCO"])
    email = StringField("Adresse électronique du centre (transmise par la DREAL)", [DataRequired(REQUIRED), Email("Adresse électronique invalide.")])
    granted_on = DateField("Date de l'agrément", [DataRequired("Date invalide.")])

    def validate_trainings(self, field):
        if not field.data:
            raise ValidationError("Choisissez au moins une formation.")


class ApprovalView(StaffModelView):
    """Approvals recorded on behalf of the DREAL; recording one e-mails « Agrément CFA » to the centre."""

    reference_data = True
    list_template = "admin/approvals/list.html"
    can_edit = False
    column_list = ("siret", "number", "category", "trainings", "email", "granted_on", "notified_at")
    column_labels = {
        "siret": "SIRET",
        "number": "N° d'agrément",
        "category": "Type",
        "trainings": "Formations",
        "email": "Adresse électronique",
        "granted_on": "Agréé le",
        "notified_at": "Notification « Agrément CFA »",
    }
    column_formatters = {
        "granted_on": day("granted_on"),
        "notified_at": when("notified_at"),
    }
    column_searchable_list = (Approval.siret, Approval.number, Approval.email)
    search_hint = "SIRET, n° d'agrément ou adresse"
    column_default_sort = ("created_at", True)

    def get_create_form(self):
        return ApprovalForm

    def create_model(self, form):
        with db.atomic():
            approval = approvals.record(
                siret=form.siret.data,
                number=form.number.data.strip(),
                category=form.category.data,
                trainings=",".join(form.trainings.data),
                email=form.email.data.strip(),
                granted_on=form.granted_on.data,
            )
        flash(f"Agrément enregistré : la notification « Agrément CFA » est envoyée à {approval.email}.", "success")
        return approval

    @expose("/import", methods=["POST"])
    def import_csv(self):
        """Record approvals from a CSV file (siret;numero;type;formations;email;date)."""
        upload = request.files.get("file")
        if not upload or not upload.filename:
            flash("Choisissez un fichier CSV.", "error")
            return redirect(url_for(".index_view"))
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            flash("Le fichier doit être encodé en UTF-8.", "error")
            return redirect(url_for(".index_view"))
        recorded, errors = approvals.import_csv(io.StringIO(text))
        if recorded:
            flash(f"{recorded} agrément(s) enregistré(s) ; chaque centre reçoit la notification « Agrément CFA ».", "success")
        for error in errors[:20]:
            flash(error, "error")
        if len(errors) > 20:
            flash(f"… et {len(errors) - 20} autre(s) ligne(s) en erreur.", "error")
        return redirect(url_for(".index_view"))


class SireneView(ReadOnlyView):
    """The local copy of INSEE's Sirene register, used to check SIRETs."""

    reference_data = True
    list_template = "admin/approvals/sirene_list.html"
    column_list = ("siret", "name", "state", "address", "postal_code", "city", "updated_at")
    column_labels = {
        "siret": "SIRET",
        "name": "Dénomination",
        "state": "État",
        "address": "Adresse",
        "postal_code": "Code postal",
        "city": "Commune",
        "updated_at": "Mis à jour le",
    }
    column_formatters = {
        "state": lambda v, c, m, n: "Actif" if m.state == "A" else "Fermé",
        "updated_at": day("updated_at"),
    }
    column_searchable_list = (SireneEstablishment.siret, SireneEstablishment.name, SireneEstablishment.city)
    search_hint = "SIRET, dénomination ou commune"

    @expose("/import", methods=["POST"])
    def import_csv(self):
        """Load a CSV in INSEE's StockEtablissement layout."""
        upload = request.files.get("file")
        if not upload or not upload.filename:
            flash("Choisissez un fichier CSV.", "error")
            return redirect(url_for(".index_view"))
        try:
            count = sirene.load_csv(io.StringIO(upload.read().decode("utf-8-sig")))
        except (ValueError, KeyError, csv.Error) as error:
            flash(f"Fichier refusé : {error}", "error")
            return redirect(url_for(".index_view"))
        audit.record("Import du registre Sirene", upload.filename, f"{count} établissements")
        flash(f"{count} établissement(s) chargé(s).", "success")
        return redirect(url_for(".index_view"))


class ProcedureView(ReadOnlyView):
    """The procedures (« démarches ») of the platform."""

    reference_data = True
    column_list = ("name",)
    column_labels = {"name": "Démarche"}
    column_default_sort = "id"


class SubscriptionForm(BaseForm):
    procedure = SelectField("Démarche", coerce=int)
    access_modality = SelectField(
        "Modalité d'accès",
        choices=[("", "— Choisir (obligatoire) —"), ("portail", "Traitement dans le back-office (portail)"), ("api", "Récupération par API (logiciel métier)")],
        validators=[DataRequired("La modalité d'accès est une sélection obligatoire.")],
    )
    start_date = DateField("Les nouveaux télédossiers arrivent à partir du", [DataRequired("Date invalide.")])
    notification_email = StringField(
        "Notifications (adresse électronique générique / fonctionnelle recommandée)",
        [DataRequired(REQUIRED), Email("Adresse électronique invalide.")],
    )


class SubscriptionView(StaffModelView):
    """The service's subscriptions (« abonnements ») to procedures (guide 003, action 1)."""

    reference_data = True
    column_list = ("procedure", "access_modality", "start_date", "notification_email")
    column_labels = {
        "procedure": "Démarche",
        "access_modality": "Modalité d'accès",
        "start_date": "Télédossiers reçus depuis le",
        "notification_email": "Notifications",
    }
    column_formatters = {
        "access_modality": lambda v, c, m, n: "Portail" if m.access_modality == "portail" else "API",
        "start_date": day("start_date"),
    }

    def get_create_form(self):
        return SubscriptionForm

    def get_edit_form(self):
        return SubscriptionForm

    def _with_choices(self, form):
        form.procedure.choices = [(p.id, p.name) for p in Procedure.select().order_by(Procedure.id)]
        return form

    def create_form(self, obj=None):
        return self._with_choices(super().create_form(obj))

    def edit_form(self, obj=None):
        form = self._with_choices(super().edit_form(obj))
        if request.method == "GET" and obj is not None:
            form.procedure.data = obj.procedure_id
        return form

    def validate_form(self, form):
        ok = super().validate_form(form)
        # Flask-Admin validates its action and delete forms here too: only a subscription form names a procedure.
        if ok and request.method == "POST" and isinstance(form, SubscriptionForm):
            current = request.view_args.get("id") or request.args.get("id")
            clash = Subscription.select().where(Subscription.procedure == form.procedure.data)
            if current:
                clash = clash.where(Subscription.id != int(current))
            if clash.exists():
                form.procedure.errors = list(form.procedure.errors) + ["Un abonnement existe déjà pour cette démarche."]
                return False
        return ok


class NewsView(StaffModelView):
    """« Nouveautés » shown on every home page."""

    reference_data = True
    column_list = ("published_on", "text", "visible")
    column_labels = {"published_on": "Publiée le", "text": "Texte", "visible": "Visible"}
    form_columns = ("text", "published_on", "visible")
    column_default_sort = ("published_on", True)
    form_args = {"text": {"label": "Texte"}, "published_on": {"label": "Publiée le"}, "visible": {"label": "Visible"}}
