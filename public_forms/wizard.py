"""The generic wizard: any procedure's steps, « Reprendre », « Afficher », « Annuler », « Répondre » and its documents.

A blueprint serving some procedures calls install(bp); their pages then live under its prefix, and
each page finds what differs in the procedure's declaration (services/procedures/).
"""
import datetime as dt
import io
from dataclasses import dataclass

from peewee import SQL, Value

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge

from models.prepared import prepared
from models import (
    STATE_LABELS, Anomaly, Card, CardEvent, Dossier, DossierEvent, Payment, PaymentStatus, Procedure, RequestState,
)
from public_forms import Audience, account_required
from services import dossiers, payments, procedures, storage, uploads
from services import fields as f
from services.errors import Refused

TOO_BIG = "Le fichier dépasse 5 Mo : réduisez sa taille (par exemple en le numérisant en 150 dpi)."


def install(bp, *, answer=True, audiences=(Audience.DRIVER,)):
    """Add the wizard's pages to a blueprint, for these audiences; ``answer`` adds the generic « Répondre »."""
    holders = account_required(*audiences)
    bp.add_url_rule("/<int:dossier_id>/etapes/<step>", "step", holders(step), methods=["GET", "POST"])
    bp.add_url_rule("/<int:dossier_id>/reprendre", "resume", holders(resume))
    bp.add_url_rule("/<int:dossier_id>", "show", holders(show))
    bp.add_url_rule("/<int:dossier_id>/annuler", "cancel", holders(cancel), methods=["POST"])
    bp.add_url_rule("/<int:dossier_id>/documents/<int:document_id>", "document", holders(document))
    if answer:
        bp.add_url_rule("/<int:dossier_id>/repondre", "answer", holders(answer_items), methods=["GET", "POST"])
    bp.register_error_handler(RequestEntityTooLarge, too_large)


def too_large(error):
    """Say a too-big upload was refused and go back to the page, where nothing saved is lost."""
    flash(TOO_BIG, "error")
    return redirect(request.path)


# --- What the pages show about a file ------------------------------------------------------------------


@dataclass
class Milestone:
    """One status a request (or its card) went through, as « Mes demandes en cours » shows it."""

    at: dt.datetime
    #: The state reached (it styles the label).
    state: str
    comment: str = ""

    @property
    def label(self):
        return STATE_LABELS.get(self.state, self.state)


@dataclass
class Loaded:
    """What the follow-up pages show of a holder's files, read in a constant number of queries (no query per file)."""

    data: dict
    #: {file id: the state of the card it ordered (its last one, for a company's several cards)}.
    card_states: dict
    #: {file id: its statuses, then its card's, oldest first}.
    steps: dict
    anomalies: dict


def _grouped(rows, key):
    groups = {}
    for row in rows:
        groups.setdefault(getattr(row, key), []).append(row)
    return groups


def load(dossiers, *, details=True):
    """Read, in one query, the statuses of some files and of their cards (with the cards' states); ``details`` adds
    their data rows and open anomalies (what « Mes demandes en cours » shows beyond the statuses)."""
    ids = [dossier.id for dossier in dossiers]
    data = {}
    if details:
        by_model = _grouped(dossiers, "procedure_id")
        for model in {procedures.of(group[0]).data_model for group in by_model.values()}:
            data.update({row.dossier_id: row for row in _data_rows.rows(model, ids)})
    steps, card_steps, card_states, anomalies = {}, {}, {}, {}
    # Rows come file by file: the file's own statuses and open anomalies first, then each card's statuses (by card id).
    for dossier_id, card_id, card_state, at, row_id, event, to_state, comment in _follow_up.rows(ids, details):
        if event == ANOMALY:
            anomalies.setdefault(dossier_id, []).append(
                Anomaly(id=row_id, dossier=dossier_id, created_at=at, field=to_state, reason=comment))
        elif card_id is None:
            steps.setdefault(dossier_id, []).append(Milestone(at, to_state, comment if event == "reject" else ""))
        else:
            if card_states.get(dossier_id, (None,))[0] != card_id:
                card_steps[dossier_id] = []  # a later card of the file (a company's several): its history is shown
            card_states[dossier_id] = (card_id, card_state)
            card_steps[dossier_id].append(Milestone(at, to_state))
    for dossier_id, milestones in card_steps.items():
        steps.setdefault(dossier_id, []).extend(milestones)
    return Loaded(data, {dossier_id: state for dossier_id, (_, state) in card_states.items()}, steps, anomalies)


#: The event of a follow-up row that is an open anomaly (its field in to_state, its reason in comment).
ANOMALY = "anomalie ouverte"


def _follow_up_of(ids, anomalies):
    """The files' history, then their cards' with each card's state (each oldest first), and with ``anomalies`` what
    each file's holder must still correct: one list of tuples (dossier, card, card state, at, id, event, state,
    comment)."""
    files = DossierEvent.select(
        DossierEvent.dossier.alias("dossier_id"), Value(None).alias("card_id"), Value(None).alias("card_state"),
        DossierEvent.at, DossierEvent.id, DossierEvent.event, DossierEvent.to_state, DossierEvent.comment,
    ).where(DossierEvent.dossier.in_(ids))
    cards = CardEvent.select(
        Card.dossier.alias("dossier_id"), CardEvent.card.alias("card_id"), Card.state.alias("card_state"), CardEvent.at,
        CardEvent.id, CardEvent.event, CardEvent.to_state, CardEvent.comment,
    ).join(Card).where(Card.dossier.in_(ids))
    rows = files.union_all(cards)
    if anomalies:
        rows = rows.union_all(Anomaly.select(
            Anomaly.dossier, Value(None), Value(None), Anomaly.created_at, Anomaly.id, Value(ANOMALY), Anomaly.field,
            Anomaly.reason,
        ).where(Anomaly.dossier.in_(ids), Anomaly.corrected_at.is_null()))
    return rows.order_by(SQL("dossier_id"), SQL("card_id").asc(nulls="first"), SQL("at"), SQL("id")).tuples()


# What load() reads, prepared: these pages are the ones every holder opens.
_data_rows = prepared(lambda model, ids: model.select().where(model.dossier.in_(ids)))
_follow_up = prepared(_follow_up_of)


def card_of(dossier):
    """Return the card a request ordered, or None."""
    return Card.select().where(Card.dossier == dossier).order_by(Card.id.desc()).first()


def timeline(dossier, loaded=None):
    """Return the statuses a request went through, then its card's, oldest first."""
    if loaded is not None:
        return loaded.steps.get(dossier.id, [])
    events = dossier.history.order_by(DossierEvent.at, DossierEvent.id)
    steps = [Milestone(e.at, e.to_state, e.comment if e.event == "reject" else "") for e in events]
    card = card_of(dossier)
    if card is not None:
        steps += [Milestone(e.at, e.to_state) for e in card.history.order_by(CardEvent.at, CardEvent.id)]
    return steps


def own_dossier(dossier_id, *, any_blueprint=False):
    """Return (file, declaration, data) of the holder's file served by this blueprint (or by any), or 404.

    An organisation's files are its members' (as Dossier.requests_of scopes them); anyone else's answer 404.
    """
    dossier = (
        Dossier.requests_of(current_user._get_current_object())
        .where(Dossier.id == dossier_id, Procedure.code.in_(list(procedures.REGISTRY)))
        .first()
    )
    declaration = procedures.of(dossier) if dossier is not None else None
    if declaration is None or not (any_blueprint or declaration.pages == request.blueprint):
        abort(404)
    return dossier, declaration, declaration.data_of(dossier)


def summary_context(dossier, declaration, data):
    """Return what a file's summary (« Récapitulatif ») shows: the procedure's own part, then the common one."""
    return {
        **declaration.summary_context(dossier, data),
        "declaration": declaration,
        "holder": dossier.user,
        "driver": dossier.user.driver,
        "documents": {kind: uploads.current_document(dossier, kind) for kind in declaration.documents},
        "payments": list(Payment.select().where(Payment.dossier == dossier.id).order_by(Payment.id)),
        "steps": declaration.step_names,
    }


def payment_to_retry(dossier):
    """Return the last payment of a file still awaiting one when it was refused or abandoned, else None."""
    if dossier.state not in (RequestState.BROUILLON, RequestState.ATTENTE_COMPLEMENT):
        return None
    last = Payment.select().where(Payment.dossier == dossier.id).order_by(Payment.id.desc()).first()
    return last if last is not None and last.status != PaymentStatus.PAID else None


# --- The steps of a draft --------------------------------------------------------------------------------


def step(dossier_id, step):
    """Show one step of a draft; « Suivant » saves it and goes on, « Précédent » goes back keeping what was saved."""
    dossier, declaration, data = own_dossier(dossier_id)
    here = declaration.step(step) or abort(404)
    if dossier.state != RequestState.BROUILLON:
        return redirect(url_for(".show", dossier_id=dossier.id))
    names = declaration.step_names
    reached = data.step if data.step in names else names[0]
    if names.index(step) > names.index(reached):
        return redirect(url_for(".step", dossier_id=dossier.id, step=reached))
    position = names.index(step)
    previous = names[position - 1] if position else None
    following = names[position + 1] if position + 1 < len(names) else None
    going_back = request.form.get("action") == "precedent"
    save = SAVERS["summary" if following is None else ("upload" if here.document else "fields")]
    form, outcome, context = save(dossier, declaration, data, here, going_back)
    if outcome == "next":
        dossiers.reach(dossier, data, following)
        return redirect(url_for(".step", dossier_id=dossier.id, step=following))
    if outcome is not None:
        return outcome
    if going_back and previous:
        return redirect(url_for(".step", dossier_id=dossier.id, step=previous))
    page = {"form": form, "dossier": dossier, "declaration": declaration, "data": data, "step": here,
            "position": position, "reached": names.index(reached), "previous": previous}
    return render_template("public/wizard/step.html", **{**page, **context})


def save_fields(dossier, declaration, data, here, going_back):
    """A fields step: going back keeps every field typed correctly; going on needs them all right."""
    form = here.form(obj=data)
    if not form.is_submitted():
        return form, None, {}
    valid = form.validate()
    if valid or going_back:
        columns = type(data)._meta.fields
        for field in form:
            if field.name in columns and not field.errors:
                field.populate_obj(data, field.name)
        data.save()
    return form, ("next" if valid and not going_back else None), {}


def save_upload(dossier, declaration, data, here, going_back):
    """An upload step: a new file replaces the one saved; going on needs one."""
    form = type("UploadForm", (FlaskForm,), {"document": FileField(declaration.documents[here.document])})()
    if form.is_submitted() and form.validate():
        upload = form.document.data
        if upload is not None and upload.filename:
            try:
                uploads.save_document(dossier, here.document, upload, here.accepts)
            except Refused as refusal:
                if not going_back:
                    form.document.errors.append(refusal.message)
        if not going_back and not form.document.errors:
            if uploads.current_document(dossier, here.document) is None:
                form.document.errors.append(here.empty)
            else:
                return form, "next", {}
    return form, None, {"current": uploads.current_document(dossier, here.document),
                        "formats": storage.formats_hint(here.accepts), "accept": storage.accept_attribute(here.accepts)}


def save_summary(dossier, declaration, data, here, going_back):
    """The summary: « Valider ma demande » sends the file, or first takes the holder to payment."""
    form = FlaskForm()
    error = None
    if form.validate_on_submit() and not going_back:
        try:
            payment = dossiers.validate(dossier, current_user._get_current_object())
        except Refused as refusal:
            error = refusal.message
        else:
            if payment is not None:
                return form, redirect(payments.hosted_page_url(payment)), {}
            return form, redirect(url_for(".sent", dossier_id=dossier.id)), {}
    data = declaration.data_of(dossier)
    return form, None, {**summary_context(dossier, declaration, data), "data": data, "error": error,
                        "missing": dossiers.missing(dossier), "retry": payment_to_retry(dossier)}


SAVERS = {"fields": save_fields, "upload": save_upload, "summary": save_summary}


def resume_url(dossier, declaration, data):
    """Return where « Reprendre » leads: the step reached, or the procedure's own page."""
    names = declaration.step_names
    return declaration.resume(dossier, data) or url_for(
        f"{declaration.pages}.step", dossier_id=dossier.id, step=data.step if data.step in names else names[0])


def resume(dossier_id):
    """« Reprendre »: open a draft where it was left."""
    dossier, declaration, data = own_dossier(dossier_id)
    if dossier.state != RequestState.BROUILLON:
        return redirect(url_for(".show", dossier_id=dossier.id))
    return redirect(resume_url(dossier, declaration, data))


def show(dossier_id):
    """« Afficher »: the file's summary, its statuses and its payments, read-only."""
    dossier, declaration, data = own_dossier(dossier_id)
    return render_template(
        "public/wizard/show.html", dossier=dossier, data=data, timeline=timeline(dossier),
        actions=declaration.holder_actions(dossier, data), **summary_context(dossier, declaration, data),
    )


def cancel(dossier_id):
    """Cancel a draft: the information and documents given are not kept."""
    dossier, _, _ = own_dossier(dossier_id)
    if FlaskForm().validate_on_submit():
        try:
            dossiers.cancel(dossier, current_user._get_current_object())
        except Refused as refusal:
            flash(refusal.message, "error")
        else:
            flash(f"Votre demande n° {dossier.id} est annulée : les informations et documents fournis ne sont pas conservés.",
                  "success")
    return redirect(url_for("requests.index", rubrique="en-cours"))


def document(dossier_id, document_id):
    """Show one of the holder's uploaded documents (preview), to the holder only."""
    # Under « Mes demandes », the documents of every request of the holder (links sent before the blueprints split).
    dossier, _, _ = own_dossier(dossier_id, any_blueprint=request.blueprint == "requests")
    item = dossier.documents.where(dossier.documents.model.id == document_id).first() or abort(404)
    suffix = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}.get(item.content_type, "")
    return storage.send(item.path, item.content_type, item.original_name or f"{item.kind}{suffix}")


# --- « Répondre » to an information request ----------------------------------------------------------------


def answer_form(declaration, anomalies, data):
    """Return a form with only the items staff asked about: fields pre-filled, documents to upload."""
    fields = {}
    for anomaly in anomalies:
        if anomaly.field.startswith("document:"):
            fields[anomaly.field] = FileField(anomaly.field_label)
        else:
            form_class = next(s.form for s in declaration.steps if s.form and hasattr(s.form, anomaly.field))
            fields[anomaly.field] = getattr(form_class, anomaly.field)
    form_class = type("AnswerForm", (f.Form,), fields)
    return form_class(data={a.field: getattr(data, a.field) for a in anomalies if not a.field.startswith("document:")})


def kept_uploads(form, declaration, anomalies, pending, dossier):
    """Check the files given, keep the good ones for a later try (in `pending`); return (files, all given)."""
    files, complete = {}, True
    for anomaly in (a for a in anomalies if a.field.startswith("document:")):
        field = form[anomaly.field]
        if field.data is not None and field.data.filename:
            try:
                content, _, suffix = storage.check_upload(field.data, declaration.accepts(anomaly.field.split(":", 1)[1]))
            except Refused as refusal:
                field.errors.append(refusal.message)
                complete = False
                continue
            drop_pending(pending, anomaly.field)
            pending[anomaly.field] = [storage.store(content, f"dossiers/{dossier.id}/reponse", suffix),
                                      storage.clean_name(field.data.filename, suffix)]
        if anomaly.field in pending:
            path, name = pending[anomaly.field]
            files[anomaly.field] = FileStorage(io.BytesIO(storage.read(path)), filename=name)
        else:
            field.errors.append("Choisissez un fichier.")
            complete = False
    return files, complete


def drop_pending(pending, item):
    if item in pending:
        storage.delete(pending.pop(item)[0])


def answer_items(dossier_id):
    """Correct only the items staff asked about and send the request back for processing."""
    dossier, declaration, data = own_dossier(dossier_id)
    if dossier.state != RequestState.ATTENTE_COMPLEMENT:
        return redirect(url_for("requests.index", rubrique="en-cours"))
    anomalies = list(dossier.open_anomalies())
    form = answer_form(declaration, anomalies, data)
    key = f"answer-uploads-{dossier.id}"
    # Files accepted on an earlier try of this form, kept so that a mistake elsewhere loses nothing.
    pending = dict(session.get(key, {}))
    if form.is_submitted():
        valid = form.validate()
        files, complete = kept_uploads(form, declaration, anomalies, pending, dossier)
        session[key] = pending
        if valid and complete:
            values = {a.field: form[a.field].data for a in anomalies if not a.field.startswith("document:")}
            try:
                dossiers.answer(dossier, current_user._get_current_object(), values, files)
            except Refused as refusal:
                flash(refusal.message, "error")
            else:
                for name in list(pending):
                    drop_pending(pending, name)
                session.pop(key, None)
                flash("Votre réponse est envoyée : votre demande est de nouveau en cours de traitement par IN Groupe.", "success")
                return redirect(url_for("requests.index", rubrique="en-cours"))
    return render_template(
        "public/requests/answer.html", form=form, dossier=dossier, anomalies=anomalies, pending=pending,
        documents={kind: uploads.current_document(dossier, kind) for kind in declaration.documents},
        upload_formats={kind: (storage.formats_hint(declaration.accepts(kind)), storage.accept_attribute(declaration.accepts(kind)))
                        for kind in declaration.documents},
    )
