"""« Demandes de CQC »: the queue of CQC requests and the page where staff take, accept, refuse or ask."""
from flask import abort, flash, g, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_login import current_user
from markupsafe import Markup, escape
from peewee import fn

from admin_views.base import StaffModelView, when
from models import (
    DOCUMENT_LABELS,
    ITEM_LABELS,
    REQUEST_FIELDS,
    STATE_LABELS,
    Anomaly,
    Card,
    Certificate,
    CqcRequest,
    Document,
    Dossier,
    DossierEvent,
    Driver,
    Procedure,
    ProcedureCode,
    RequestState,
    Training,
    User,
)
from models import clock
from services import audit, dossiers, procedures, storage, transitions, uploads
from services.errors import Refused

PROCEDURE = ProcedureCode.CQC
#: What the queue hides unless a state is chosen: drafts the holder has not sent, and cancelled ones.
HIDDEN_BY_DEFAULT = (RequestState.BROUILLON, RequestState.ANNULEE)
#: The documents a CQC request collects, in the order of its steps.
CQC_DOCUMENTS = list(procedures.get(PROCEDURE).documents)
#: What an information request may name: a request field or one of those documents.
ASKABLE = [*REQUEST_FIELDS, *(f"document:{kind}" for kind in CQC_DOCUMENTS)]
#: The decisions staff take on this page (the holder sends, cancels and answers from the portal).
STAFF_EVENTS = ("take", "accept", "reject", "ask_info")
#: Badge colour of each state on the request page.
STATE_BADGES = {
    RequestState.ENVOYEE: "primary",
    RequestState.EN_INSTRUCTION: "warning",
    RequestState.ATTENTE_COMPLEMENT: "info",
    RequestState.ACCEPTEE: "success",
    RequestState.REFUSEE: "danger",
}


def _holder(view, context, dossier, name):
    url = url_for(".show", dossier_id=dossier.id)
    user = dossier.user
    return Markup(f'<a href="{url}">{escape(user.last_name.upper())} {escape(user.first_name)}</a>')


def _waiting(view, context, dossier, name):
    if dossier.state not in (RequestState.ENVOYEE, RequestState.EN_INSTRUCTION):
        return ""
    waited = clock.now() - dossier.submitted_at
    days, hours = waited.days, waited.seconds // 3600
    return f"{days} j {hours} h" if days else (f"{hours} h" if hours else "< 1 h")


class RequestQueue(StaffModelView):
    """What every request queue shares: oldest sent first, a state filter, drafts and cancelled files hidden."""

    can_create = False
    can_edit = False
    column_display_actions = False
    list_template = "admin/requests/list.html"
    column_labels = {
        "submitted_at": "Envoyée le",
        "id": "N°",
        "holder": "Titulaire",
        "email": "Adresse électronique",
        "state": "Statut",
        "waiting": "Attente",
    }
    column_sortable_list = ("submitted_at", "id")
    column_default_sort = ("submitted_at", False)
    column_searchable_list = (User.last_name,)
    state_filter = FilterEqual(
        Dossier.state, "Statut", options=[(state.value, STATE_LABELS[state]) for state in RequestState]
    )
    column_formatters = {
        "submitted_at": when("submitted_at"),
        "holder": _holder,
        "email": lambda v, c, d, n: d.user.email,
        "state": lambda v, c, d, n: STATE_LABELS.get(d.state, d.state),
        "waiting": _waiting,
    }

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        g.state_chosen = any(self._filters[flt] is self.state_filter for flt, _, _ in filters or [])
        return super().get_list(page, sort_column, sort_desc, search, filters, execute, page_size)

    def get_query(self):
        # Without a chosen state the queue shows what was sent: drafts and cancelled files stay out.
        query = super().get_query()
        if not g.get("state_chosen"):
            query = query.where(Dossier.state.not_in(HIDDEN_BY_DEFAULT))
        return query

    #: The request page's template, and what its forms start with (kept when a decision is refused).
    show_template = None
    typed_fields = {"reject_reason": ""}

    @expose("/demande/<int:dossier_id>", methods=["GET", "POST"])
    def show(self, dossier_id):
        """Show a file (holder, its data, documents, payments, history) and decide on it."""
        dossier = self.get_one(dossier_id) or abort(404)
        can_process = current_user.can_process(dossier.procedure.code)
        typed = {name: type(value)() for name, value in self.typed_fields.items()}
        errors = []
        if request.method == "POST":
            if not can_process:
                abort(403)
            response = self._decide(dossier, request.form.get("decision"), typed, errors)
            if response is not None:
                return response
        return self.render(self.show_template, **self._page(dossier, can_process, typed, errors))

    @expose("/document/<int:document_id>")
    def document(self, document_id):
        """Show an uploaded document in the page, to staff who may see its file."""
        document = Document.get_or_none(Document.id == document_id) or abort(404)
        self.get_one(document.dossier_id) or abort(404)
        name = document.original_name or f"{document.kind}-{document.id}"
        response = storage.send(document.path, document.content_type, name)
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        if document.content_type.startswith("image/"):
            # An image opened on its own must not run anything (browsers' PDF viewers need their scripts).
            response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
        return response


class CqcRequestView(RequestQueue):
    """The CQC requests of the procedures this staff member may see, oldest sent first."""

    show_template = "admin/requests/show.html"
    typed_fields = {"reasons": {}, "drafts": {}, "reject_reason": ""}
    intro = ("Les demandes sont classées de la plus ancienne à la plus récente (date d'envoi ou de réponse du titulaire). "
             "Par défaut, les brouillons et les demandes annulées ne sont pas affichés.")
    column_list = ("submitted_at", "id", "holder", "email", "licence", "training", "state", "waiting")
    column_labels = {**RequestQueue.column_labels, "licence": "N° de permis", "training": "Formation"}
    search_hint = "Nom, adresse électronique ou n° de permis"
    column_filters = [RequestQueue.state_filter]
    column_formatters = {
        **RequestQueue.column_formatters,
        "licence": lambda v, c, d, n: d.user.driver.licence_number,
        "training": lambda v, c, d, n: d.cqc_request.training.title,
    }

    def scoped_query(self):
        return (
            Dossier.visible_to(current_user)
            .select_extend(User, Driver, CqcRequest, Training)
            .switch(Dossier)
            .join(User)
            .join(Driver, on=(Driver.user == User.id), attr="driver")
            .switch(Dossier)
            .join(CqcRequest, on=(CqcRequest.dossier == Dossier.id), attr="cqc_request")
            .join(Training, on=(CqcRequest.training == Training.id))
            .where(Procedure.code == PROCEDURE)
        )

    def search_clause(self, term):
        like = f"%{term}%"
        return (
            (User.last_name ** like) | (User.first_name ** like) | (User.email ** like)
            | (Driver.licence_number ** f"%{term.replace(' ', '').upper()}%")
        )

    def state_links(self):
        """Return (label, url, count, active) for the quick state choices above the list."""
        key = next(k for k, (_, flt) in self._filter_args.items() if flt is self.state_filter)
        chosen = next((v for k, v in request.args.items() if k.startswith("flt") and k.endswith(f"_{key}")), None)
        counts = dict(
            self.scoped_query().select(Dossier.state, fn.COUNT(Dossier.id)).group_by(Dossier.state).tuples()
        )
        links = [("Toutes (hors brouillons et annulées)", url_for(".index_view"),
                  sum(n for s, n in counts.items() if s not in HIDDEN_BY_DEFAULT), chosen is None)]
        for state in RequestState:
            links.append((STATE_LABELS[state], url_for(".index_view", **{f"flt0_{key}": state.value}),
                          counts.get(state, 0), chosen == state))
        return links

    # --- The request page -------------------------------------------------------------------------

    def _decide(self, dossier, decision, typed, errors):
        """Apply one decision through services.requests; return a redirect, or None with the errors set."""
        staff = current_user._get_current_object()
        here = redirect(url_for(".show", dossier_id=dossier.id))
        try:
            if decision == "take":
                dossiers.take(dossier, staff)
                audit.record("Demande de CQC prise en instruction", f"dossier {dossier.id}")
                flash("La demande est prise en instruction.", "success")
                return here
            if decision == "accept":
                card = dossiers.accept(dossier, staff)
                audit.record("Demande de CQC acceptée", f"dossier {dossier.id}", f"carte {card.number}")
                flash(
                    f"Demande acceptée : la carte n° {card.number} est commandée (en fabrication), "
                    f"valable jusqu'au {card.expires_on:%d/%m/%Y}. Le titulaire est prévenu.",
                    "success",
                )
                return here
            if decision == "reject":
                typed["reject_reason"] = request.form.get("reject_reason", "")
                dossiers.reject(dossier, staff, typed["reject_reason"])
                audit.record("Demande de CQC refusée", f"dossier {dossier.id}", typed["reject_reason"].strip())
                flash("La demande est refusée : le titulaire est prévenu du motif.", "success")
                return here
            if decision == "ask_info":
                typed["reasons"] = {
                    item: request.form.get(f"reason_{item}", "") for item in ASKABLE if request.form.get(f"item_{item}")
                }
                # Keep the reasons typed next to unticked items too, so nothing typed is lost on error.
                typed["drafts"] = {item: request.form.get(f"reason_{item}", "") for item in ASKABLE}
                dossiers.ask_info(dossier, staff, typed["reasons"])
                audit.record("Information complémentaire demandée", f"dossier {dossier.id}",
                             "; ".join(f"{ITEM_LABELS[i]} : {r.strip()}" for i, r in typed["reasons"].items()))
                flash("La demande d'information complémentaire est envoyée au titulaire (courrier électronique, SMS et notification).", "success")
                return here
        except Refused as error:
            errors.append(str(error))
            return None
        abort(400)

    def _page(self, dossier, can_process, typed, errors):
        user = dossier.user
        cqc = dossier.cqc_request
        training = cqc.training
        documents = list(dossier.documents.order_by(Document.kind, Document.uploaded_at.desc(), Document.id.desc()))
        kinds = CQC_DOCUMENTS + sorted({d.kind for d in documents} - set(CQC_DOCUMENTS))
        current = {kind: uploads.current_document(dossier, kind) for kind in kinds}
        anomalies = list(dossier.anomalies.order_by(Anomaly.created_at, Anomaly.id))
        return {
            "dossier": dossier,
            "user": user,
            "driver": user.driver,
            "cqc": cqc,
            "training": training,
            "certificate": Certificate.get_or_none(Certificate.training == training),
            "card": Card.select().where(Card.dossier == dossier).order_by(Card.id.desc()).first(),
            "current": current,
            "previous": [d for d in documents if d.replaced_at is not None],
            "documents": [(kind, DOCUMENT_LABELS.get(kind, kind)) for kind in kinds],
            "askable_documents": [(kind, DOCUMENT_LABELS[kind]) for kind in CQC_DOCUMENTS],
            "document_labels": DOCUMENT_LABELS,
            "request_fields": REQUEST_FIELDS,
            "request_values": {field: dossiers.item_value(dossier, cqc, field) for field in REQUEST_FIELDS},
            "item_labels": ITEM_LABELS,
            "history": list(dossier.history.order_by(DossierEvent.at, DossierEvent.id)),
            "open_items": [a for a in anomalies if a.corrected_at is None],
            "changed": [a for a in anomalies if a.corrected_at is not None],
            "badge": STATE_BADGES.get(dossier.state, "secondary"),
            "events": [e for e in transitions.allowed_events(dossier) if e in STAFF_EVENTS] if can_process else [],
            "can_process": can_process,
            "typed": typed,
            "errors": errors,
        }

