"""What every queue of files (« télédossiers ») shares: the list, the file page, its documents and decisions.

A procedure's queue sets its scope, columns and the partial showing its data; it adds only what is its
own (the quality decision of a defective card, for instance).
"""
import datetime as dt

from flask import abort, flash, g, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_login import current_user
from markupsafe import Markup, escape

from admin_views.base import StaffModelView, when
from admin_views.queues import QueueTools
from models import (
    DOCUMENT_LABELS,
    ITEM_LABELS,
    STATE_LABELS,
    Anomaly,
    Card,
    Document,
    Dossier,
    DossierEvent,
    Payment,
    PaymentStatus,
    Procedure,
    RequestState,
    StateCount,
    User,
    clock,
)
from services import audit, dossiers, procedures, storage, transitions, uploads
from services.errors import Refused

#: What a queue hides unless a state is chosen: drafts the holder has not sent, and cancelled ones.
HIDDEN_BY_DEFAULT = (RequestState.BROUILLON, RequestState.ANNULEE)
#: The lifecycle's events staff decide on a file page (the holder sends, cancels and answers from the portal).
STAFF_EVENTS = ("take", "accept", "reject", "ask_info")
#: Badge colour of each state on the file page.
STATE_BADGES = {
    RequestState.ENVOYEE: "primary",
    RequestState.EN_INSTRUCTION: "warning",
    RequestState.ATTENTE_COMPLEMENT: "info",
    RequestState.ACCEPTEE: "success",
    RequestState.REFUSEE: "danger",
}
NOT_NOW = "Cette action n'est pas possible sur ce dossier dans son état actuel : rechargez la page."


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


def organisation_column(view, context, dossier, name):
    """The organisation a file is for, with its SIRET (the queue's query joins it)."""
    organisation = dossier.organisation
    return Markup(f"{escape(organisation.name)}<br><small class=\"text-muted\">SIRET {escape(organisation.siret)}</small>")


#: The URL argument of « Suivante » in a queue's own order: the submission time and number of the last file shown.
AFTER = "apres"


def _cursor(value):
    """Return (submitted_at, id) from « apres », or None when absent or not one."""
    when, _, number = (value or "").partition("~")
    try:
        cursor = (dt.datetime.fromisoformat(when), int(number))
    except ValueError:
        return None
    return cursor if 0 < cursor[1] < 2**31 else None


class ProcedureFilter(FilterEqual):
    """The procedure of a file, chosen by its code (the list query already joins Procedure)."""

    def apply(self, query, value, alias=None):
        return query.where(Dossier.procedure.in_(Procedure.ids_of([value])))


class DossierQueue(QueueTools, StaffModelView):
    """A queue of files: oldest sent first, state (and procedure) choices, drafts and cancelled files hidden."""

    # « Précédente / Suivante » without counting every file of the queue (the state badges give the counts).
    simple_list_pager = True
    can_create = False
    can_edit = False
    column_display_actions = False
    list_template = "admin/dossiers/list.html"
    show_template = "admin/dossiers/show.html"
    #: The partial of the file page showing the procedure's own data.
    data_template = None
    #: A partial with the decisions of the procedure's own (None: the lifecycle's only).
    own_decisions_template = None
    #: How the file page names a file (None: by its procedure's name) and the card it ordered.
    file_title = None
    card_label = "Carte"
    #: What a list says above the files, and how the « all » state choice reads.
    intro = ""
    all_label = "Toutes (hors brouillons et annulées)"
    #: Decisions of the procedure's own, beyond the lifecycle's.
    own_decisions = ()
    taken_message = "La demande est prise en instruction."
    read_only_notice = "Vous pouvez consulter cette demande mais pas la traiter"
    #: What the file page's forms start with (kept when a decision is refused).
    typed_fields = {"reject_reason": "", "reasons": {}, "drafts": {}}
    column_labels = {
        "submitted_at": "Envoyée le",
        "id": "N°",
        "holder": "Titulaire",
        "email": "Adresse électronique",
        "state": "Statut",
        "waiting": "Attente",
    }
    column_sortable_list = ("submitted_at", "id")
    column_default_sort = [("submitted_at", False), ("id", False)]
    column_searchable_list = (User.last_name,)
    state_filter = FilterEqual(
        Dossier.state, "Statut", options=[(state.value, STATE_LABELS[state]) for state in RequestState]
    )
    #: The procedures whose files the queue lists.
    codes = ()
    #: Set by queues serving several procedures: the choice of one of them.
    procedure_filter = None
    column_formatters = {
        "submitted_at": when("submitted_at"),
        "holder": _holder,
        "email": lambda v, c, d, n: d.user.email,
        "state": lambda v, c, d, n: STATE_LABELS.get(d.state, d.state),
        "waiting": _waiting,
    }

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        g.state_chosen = any(self._filters[flt] is self.state_filter for flt, _, _ in filters or [])
        g.after = _cursor(request.args.get(AFTER)) if sort_column is None else None
        if g.after is not None:
            page = 0
        return super().get_list(page, sort_column, sort_desc, search, filters, execute, page_size)

    def get_query(self):
        # Without a chosen state the queue shows what was sent: drafts and cancelled files stay out.
        query = super().get_query()
        if not g.get("state_chosen"):
            query = query.where(Dossier.state.not_in(HIDDEN_BY_DEFAULT))
        if g.get("after") is not None:
            # The page after a file, in the queue's order: an index range, where OFFSET would walk every file before.
            sent, number = g.after
            query = query.where((Dossier.submitted_at > sent) | ((Dossier.submitted_at == sent) & (Dossier.id > number)))
        return query

    def next_page_url(self, rows, page_size):
        """Return « Suivante »'s link: the files after the last one shown; None on the last page.

        In the queue's own order (oldest sent first) it continues after that file; sorted otherwise, or among
        drafts never sent, it is Flask-Admin's next page number.
        """
        if len(rows) < page_size:
            return None
        last = rows[-1]
        args = {key: value for key, value in request.args.items() if key not in ("page", AFTER)}
        if "sort" in request.args or last.submitted_at is None:
            return url_for(".index_view", **args, page=request.args.get("page", 0, type=int) + 1)
        return url_for(".index_view", **args, **{AFTER: f"{last.submitted_at.isoformat()}~{last.id}"})

    def first_page_url(self):
        """Return the queue's first page, filters and sort kept; None when already there."""
        if AFTER not in request.args and not request.args.get("page"):
            return None
        return url_for(".index_view", **{key: value for key, value in request.args.items() if key not in ("page", AFTER)})

    # --- The choices above the list ------------------------------------------------------------------

    def _chosen(self, flt):
        if flt is None:
            return None
        key = self._filter_key(flt)
        return next((v for k, v in request.args.items() if k.startswith("flt") and k.endswith(f"_{key}")), None)

    def _url(self, state, code):
        return self.filtered_url(code=code, state=state)

    def state_links(self):
        """Return (label, url, count, active) for the quick state choices above the list (the procedure chosen kept)."""
        state, code = self._chosen(self.state_filter), self._chosen(self.procedure_filter)
        # The counters the database keeps per procedure and state: one small read, never a count over the files.
        codes = set([code] if code else self.codes) & current_user.procedure_codes()
        counts = StateCount.of(Procedure.ids_of(codes))
        counts = {value: counts.get(value, 0) for value in RequestState}
        shown = sum(n for s, n in counts.items() if s not in HIDDEN_BY_DEFAULT)
        links = [(self.all_label, self._url(None, code), shown, state is None)]
        for value in RequestState:
            links.append((STATE_LABELS[value], self._url(value.value, code), counts[value], state == value))
        return links

    def procedure_links(self):
        """Return (label, url, active) for the procedure choices (the state chosen kept), or nothing."""
        if self.procedure_filter is None:
            return []
        state, chosen = self._chosen(self.state_filter), self._chosen(self.procedure_filter)
        links = [(self.procedure_filter.all_label, self._url(state, None), chosen is None)]
        return links + [(label, self._url(state, code), chosen == code) for code, label in self.procedure_filter.options]

    # --- The file page ---------------------------------------------------------------------------------

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

    def decisions(self, dossier):
        """Return the decisions offered on a file in its state: the lifecycle's staff events."""
        return [event for event in transitions.allowed_events(dossier) if event in STAFF_EVENTS]

    def askable(self, dossier, data):
        """Return (item, label, current value, is a document) of what an information request may name."""
        declaration = procedures.of(dossier)
        items = [(name, label, False) for name, label in declaration.askable_fields.items()]
        items += [(f"document:{kind}", label, True) for kind, label in declaration.documents.items()]
        return [(item, label, dossiers.item_value(dossier, data, item), document) for item, label, document in items]

    def _decide(self, dossier, decision, typed, errors):
        """Apply one decision through the services; return a redirect, or None with the errors set."""
        if decision not in (*STAFF_EVENTS, *self.own_decisions):
            abort(400)
        staff = current_user._get_current_object()
        label = dossier.procedure.name
        try:
            if decision not in self.decisions(dossier):
                if decision in STAFF_EVENTS:
                    transitions.check(dossier, decision)  # says why the state forbids it
                raise Refused(NOT_NOW)
            if decision == "take":
                dossiers.take(dossier, staff)
                audit.record(f"{label} : prise en instruction", f"dossier {dossier.id}")
                message = self.taken_message
            elif decision == "accept":
                card = dossiers.accept(dossier, staff)
                audit.record(f"{label} : acceptée", f"dossier {dossier.id}", f"carte {card.number}" if card else "")
                message = self.accepted_message(dossier, card)
            elif decision == "reject":
                typed["reject_reason"] = request.form.get("reject_reason", "")
                dossiers.reject(dossier, staff, typed["reject_reason"])
                audit.record(f"{label} : refusée", f"dossier {dossier.id}", typed["reject_reason"].strip())
                message = "La demande est refusée : le titulaire est prévenu du motif."
            elif decision == "ask_info":
                items = [item for item, *_ in self.askable(dossier, dossiers.data_of(dossier))]
                typed["reasons"] = {item: request.form.get(f"reason_{item}", "") for item in items
                                    if request.form.get(f"item_{item}")}
                # Keep the reasons typed next to unticked items too, so nothing typed is lost on error.
                typed["drafts"] = {item: request.form.get(f"reason_{item}", "") for item in items}
                dossiers.ask_info(dossier, staff, typed["reasons"])
                audit.record("Information complémentaire demandée", f"dossier {dossier.id}",
                             "; ".join(f"{ITEM_LABELS[i]} : {r.strip()}" for i, r in typed["reasons"].items()))
                message = ("La demande d'information complémentaire est envoyée au titulaire "
                           "(courrier électronique, SMS et notification).")
            else:
                message = self.decide_own(dossier, decision, staff, typed)
        except Refused as error:
            errors.append(error.message)
            return None
        flash(message, "success")
        return redirect(url_for(".show", dossier_id=dossier.id))

    def accepted_message(self, dossier, card):
        """Say what accepting ordered."""
        return (f"Demande acceptée : la carte n° {card.number} est commandée (en fabrication), "
                f"valable jusqu'au {card.expires_on:%d/%m/%Y}. Le titulaire est prévenu.")

    def decide_own(self, dossier, decision, staff, typed):
        """Apply a decision of the procedure's own; return what to tell staff."""
        abort(400)

    def page_extras(self, dossier, data):
        """Return what the procedure's partial shows beyond the common file page."""
        return {}

    def accept_note(self, dossier, data):
        """Say, next to « Accepter », what accepting orders."""
        return "La carte est commandée (en fabrication) avec l'identité du compte et l'adresse de livraison ci-dessus."

    def _page(self, dossier, can_process, typed, errors):
        declaration = procedures.of(dossier)
        data = declaration.data_of(dossier)
        user = dossier.user
        documents = list(dossier.documents.order_by(Document.kind, Document.uploaded_at.desc(), Document.id.desc()))
        kinds = list(declaration.documents) + sorted({d.kind for d in documents} - set(declaration.documents))
        anomalies = list(dossier.anomalies.order_by(Anomaly.created_at, Anomaly.id))
        payments = list(Payment.select().where(Payment.dossier == dossier.id).order_by(Payment.id))
        return {
            "dossier": dossier,
            "declaration": declaration,
            "data": data,
            "data_template": self.data_template,
            "title": self.file_title or dossier.procedure.name,
            "reason_label": None,
            "user": user,
            "driver": user.driver,
            "card": Card.select().where(Card.dossier == dossier).order_by(Card.id.desc()).first(),
            "current": {kind: uploads.current_of(documents, kind) for kind in kinds},
            "documents": [(kind, DOCUMENT_LABELS.get(kind, kind)) for kind in kinds],
            "previous": [d for d in documents if d.replaced_at is not None],
            "document_labels": DOCUMENT_LABELS,
            "askable": self.askable(dossier, data),
            "history": list(DossierEvent.with_actors(DossierEvent.dossier, dossier.id)),
            "anomalies": anomalies,
            "open_items": [a for a in anomalies if a.corrected_at is None],
            "changed": [a for a in anomalies if a.corrected_at is not None],
            "payments": payments,
            "invoices": {p.id: p.invoices.first() for p in payments if p.status == PaymentStatus.PAID},
            "paid": any(p.status == PaymentStatus.PAID for p in payments),
            "accept_note": self.accept_note(dossier, data),
            "badge": STATE_BADGES.get(dossier.state, "secondary"),
            "decisions": self.decisions(dossier) if can_process else [],
            "can_process": can_process,
            "typed": typed,
            "errors": errors,
            **self.page_extras(dossier, data),
        }
