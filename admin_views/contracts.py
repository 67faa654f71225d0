"""« Contrats »: the organisations' contracts (TACHY, CQC), oldest first; staff give each its number within 24 hours."""
from flask import request
from flask_login import current_user
from markupsafe import Markup

from admin_views.dossiers import DossierQueue, ProcedureFilter, organisation_column
from models import CONTRACT_PROCEDURES, PROCEDURES, Contract, Dossier, Organisation, Procedure, RequestState, User
from models import clock, deadlines
from services import audit, organisations

#: The contracts this queue serves, by the name staff read.
KINDS = {code: name for code, name in PROCEDURES if code in CONTRACT_PROCEDURES}


class ContractFilter(ProcedureFilter):
    all_label = "Tous les contrats"


def _waiting(view, context, dossier, name):
    """How long the organisation has waited for its number; flagged past 24 hours."""
    if dossier.state not in (RequestState.ENVOYEE, RequestState.EN_INSTRUCTION):
        return ""
    waited = clock.now() - dossier.submitted_at
    hours = int(waited.total_seconds() // 3600)
    if waited > deadlines.CONTRACT_TARGET:
        return Markup(f'<span class="badge badge-danger">En retard : {hours} h</span>')
    return f"{hours} h" if hours else "< 1 h"


class ContractQueue(DossierQueue):
    """The contracts subscribed by organisations, oldest sent first; those waiting more than 24 h are flagged."""

    codes = tuple(KINDS)
    data_template = "admin/contracts/_contract.html"
    own_decisions_template = "admin/contracts/_number.html"
    own_decisions = ("number",)
    intro = ("Contrats souscrits par les établissements, du plus ancien au plus récent : le numéro de contrat est "
             "communiqué à l'établissement sous 24 heures (au-delà, le contrat est signalé en rouge). Par défaut, les "
             "brouillons et les souscriptions annulées ne sont pas affichés.")
    all_label = "Tous (hors brouillons et annulés)"
    taken_message = "Le contrat est pris en instruction."
    read_only_notice = "Vous pouvez consulter ce contrat mais pas le traiter"
    typed_fields = {**DossierQueue.typed_fields, "number": ""}
    column_list = ("submitted_at", "id", "organisation", "kind", "holder", "number", "state", "waiting")
    column_labels = {**DossierQueue.column_labels, "organisation": "Établissement", "kind": "Contrat",
                     "holder": "Souscrit par", "number": "N° de contrat"}
    search_hint = "Établissement, SIRET, nom ou n° de contrat"
    procedure_filter = ContractFilter(Dossier.procedure, "Contrat", options=list(KINDS.items()))
    column_filters = [DossierQueue.state_filter, procedure_filter]
    column_formatters = {
        **DossierQueue.column_formatters,
        "organisation": organisation_column,
        "kind": lambda v, c, d, n: KINDS[d.procedure.code],
        "number": lambda v, c, d, n: d.contract_row.number or "—",
        "waiting": _waiting,
    }

    def scoped_query(self):
        return (
            Dossier.visible_to(current_user)
            .select_extend(User, Organisation, Contract)
            .switch(Dossier)
            .join(User)
            .switch(Dossier)
            .join(Organisation, on=(Dossier.organisation == Organisation.id))
            .switch(Dossier)
            .join(Contract, on=(Contract.dossier == Dossier.id), attr="contract_row")
            .where(Dossier.procedure.in_(Procedure.ids_of(self.codes)))
        )

    def search_clause(self, term):
        like = f"%{term}%"
        compact = term.replace(" ", "")
        return ((Organisation.name ** like) | (Organisation.siret ** f"%{compact}%") | (User.last_name ** like)
                | (Contract.number ** like))

    def decisions(self, dossier):
        # Accepting a contract is giving it its number.
        events = super().decisions(dossier)
        return [event for event in events if event != "accept"] + (["number"] if "accept" in events else [])

    def decide_own(self, dossier, decision, staff, typed):
        typed["number"] = request.form.get("number", "")
        number = organisations.give_number(dossier, staff, typed["number"])
        audit.record(f"{dossier.procedure.name} : numéro de contrat donné", f"dossier {dossier.id}", number)
        return (f"Le contrat n° {number} est enregistré : l'établissement en est prévenu (notification et courrier "
                "électronique).")
