"""« Comptes à analyser »: the driver-account analysis queue and its decision page."""
from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_login import current_user
from markupsafe import Markup, escape

from admin_views.base import StaffModelView, when
from admin_views.queues import QueueTools
from models import DRIVER_FIELDS, AccountState, Anomaly, Consent, Dossier, DossierEvent, Driver, Procedure, STATE_LABELS, User, ProcedureCode
from models import clock, deadlines
from services import accounts
from services.errors import Refused

PROCEDURE = ProcedureCode.COMPTE_PARTICULIER


def _holder(view, context, dossier, name):
    url = url_for(".analyse", dossier_id=dossier.id)
    return Markup(f'<a href="{url}">{escape(dossier.user.last_name.upper())} {escape(dossier.user.first_name)}</a>')


def _delay(view, context, dossier, name):
    waited = clock.now() - dossier.submitted_at
    hours = int(waited.total_seconds() // 3600)
    if dossier.state == AccountState.EN_ANALYSE and waited > deadlines.ANALYSIS_TARGET:
        return Markup(f'<span class="badge badge-danger">En retard : {hours} h</span>')
    return f"{hours} h" if hours else "< 1 h"


class AccountQueueView(QueueTools, StaffModelView):
    """The accounts waiting for analysis, oldest first; those older than 24 h are flagged."""

    can_create = False
    can_edit = False
    # « Précédente / Suivante » without counting a million accounts.
    simple_list_pager = True
    #: The states this list shows (the queue shows only the accounts waiting for analysis).
    states = (AccountState.EN_ANALYSE,)
    codes = (PROCEDURE,)
    list_template = "admin/accounts/list.html"
    column_list = ("submitted_at", "holder", "email", "licence", "state", "delay")
    column_labels = {
        "submitted_at": "Déposé le",
        "holder": "Titulaire",
        "email": "Adresse électronique",
        "licence": "N° de permis",
        "state": "Statut",
        "delay": "Attente",
    }
    column_sortable_list = ("submitted_at",)
    column_default_sort = ("submitted_at", False)
    column_searchable_list = (User.last_name,)
    search_hint = "Nom, adresse électronique ou n° de permis"
    column_formatters = {
        "submitted_at": when("submitted_at"),
        "holder": _holder,
        "email": lambda v, c, d, n: d.user.email,
        "licence": lambda v, c, d, n: d.user.driver.licence_number if d.user.driver else "",
        "state": lambda v, c, d, n: STATE_LABELS.get(d.state, d.state),
        "delay": _delay,
    }

    def scoped_query(self):
        return (
            Dossier.visible_to(current_user)
            .select_extend(User, Driver)
            .switch(Dossier)
            .join(User)
            .join(Driver, on=(Driver.user == User.id), attr="driver")
            .where(Dossier.procedure.in_(Procedure.ids_of([PROCEDURE])))
        )

    def get_query(self):
        # The list narrows to its states; the analysis page (get_one) opens an account in any state.
        query = super().get_query()
        return query.where(Dossier.state.in_(self.states)) if self.states else query

    def search_clause(self, term):
        like = f"%{term}%"
        return (User.last_name ** like) | (User.first_name ** like) | (User.email ** like) | (
            Driver.licence_number ** like.upper()
        )

    @expose("/analyse/<int:dossier_id>", methods=["GET", "POST"])
    def analyse(self, dossier_id):
        """Show a driver account's data, history and changes; declare it « Conforme » or « Non conforme »."""
        dossier = self.get_one(dossier_id) or abort(404)
        can_process = current_user.can_process(PROCEDURE)
        reasons = {}
        errors = []
        if request.method == "POST":
            if not can_process:
                abort(403)
            decision = request.form.get("decision")
            try:
                if decision == "conforme":
                    accounts.accept(dossier, current_user)
                    flash("Le compte est déclaré conforme : le titulaire reçoit le lien « Créer mon mot de passe ».", "success")
                    return redirect(url_for(".index_view"))
                if decision == "non_conforme":
                    reasons = {
                        field: request.form.get(f"reason_{field}", "")
                        for field in DRIVER_FIELDS
                        if request.form.get(f"field_{field}")
                    }
                    accounts.reject(dossier, current_user, reasons)
                    flash("Le compte est déclaré non conforme : le titulaire est invité à corriger.", "success")
                    return redirect(url_for(".index_view"))
                abort(400)
            except Refused as error:
                errors.append(str(error))
        user = dossier.user
        return self.render(
            "admin/accounts/analyse.html",
            dossier=dossier,
            user=user,
            driver=user.driver,
            values={field: accounts.field_value(user, field) for field in DRIVER_FIELDS},
            fields=DRIVER_FIELDS,
            history=list(DossierEvent.with_actors(DossierEvent.dossier, dossier.id)),
            anomalies=list(dossier.anomalies.order_by(Anomaly.created_at, Anomaly.id)),
            consents=list(Consent.select().where(Consent.user == user).order_by(Consent.id)),
            can_process=can_process,
            can_decide=can_process and dossier.state == AccountState.EN_ANALYSE,
            reasons=reasons,
            errors=errors,
            overdue=dossier.state == AccountState.EN_ANALYSE
            and clock.now() - dossier.submitted_at > deadlines.ANALYSIS_TARGET,
        )


class AccountArchiveView(AccountQueueView):
    """Every driver account, whatever its state, to search and consult."""

    states = ()
    column_default_sort = ("submitted_at", True)
    state_filter = FilterEqual(Dossier.state, "Statut", options=[(state.value, STATE_LABELS[state]) for state in AccountState])
    column_filters = [state_filter]
