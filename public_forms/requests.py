"""« Mes demandes »: make a CQC request step by step, follow it, answer an information request."""
import datetime as dt
import io
from dataclasses import dataclass

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired

from models import (
    DOCUMENT_LABELS,
    REQUEST_FIELDS,
    STATE_LABELS,
    Card,
    CardEvent,
    CardState,
    Document,
    Dossier,
    DossierEvent,
    Procedure,
    RequestState,
    Role,
    Training,
)
from public_forms import account_required
from public_forms import fields as f
from services.storage import send as stored_file
from services import requests as cqc_requests
from services import storage, transitions
from services.errors import Refused

bp = Blueprint("requests", __name__, url_prefix="/mes-demandes")

#: The two rubriques of « Mes demandes », by their URL word.
RUBRIQUES = {"faire": "Faire une demande", "en-cours": "Mes demandes en cours"}
#: What each upload step asks for, under the document's label.
UPLOAD_HINTS = {
    "photo": "Photo d'identité récente, en couleur, de face, tête nue, sur fond uni et clair.",
    "signature": "Votre signature à l'encre noire sur une feuille blanche, numérisée ou photographiée de près.",
    "piece_identite": "Carte nationale d'identité (recto et verso) ou passeport en cours de validité.",
}
#: The supporting documents of a CQC request, and the step that collects each.
CQC_DOCUMENTS = {kind: DOCUMENT_LABELS[kind] for kind in cqc_requests.STEP_DOCUMENTS.values()}
DOCUMENT_STEPS = {kind: step for step, kind in cqc_requests.STEP_DOCUMENTS.items()}
FORMATS = "Formats acceptés : PDF, JPEG ou PNG – 5 Mo maximum."
TOO_BIG = "Le fichier dépasse 5 Mo : réduisez sa taille (par exemple en le numérisant en 150 dpi)."


class IdentityForm(FlaskForm):
    certify = BooleanField(
        "Je certifie l'exactitude de ces informations",
        [DataRequired(message="Cochez la case pour certifier l'exactitude de ces informations.")],
    )


class UploadForm(FlaskForm):
    document = FileField("Fichier")


class AddressForm(FlaskForm):
    delivery_name = StringField(REQUEST_FIELDS["delivery_name"], [f.required(), f.max_length(120)], filters=[f.strip])
    delivery_address = StringField(REQUEST_FIELDS["delivery_address"], [f.required(), f.max_length(200)], filters=[f.strip])
    delivery_address_extra = StringField(REQUEST_FIELDS["delivery_address_extra"], [f.max_length(200)], filters=[f.strip])
    delivery_postal_code = StringField(REQUEST_FIELDS["delivery_postal_code"], [f.required(), f.postal_code], filters=[f.strip])
    delivery_city = StringField(REQUEST_FIELDS["delivery_city"], [f.required(), f.max_length(120)], filters=[f.strip])


# --- What the pages show about a request --------------------------------------------------------


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


def timeline(dossier):
    """Return the statuses a request went through, then its card's, oldest first."""
    steps = [
        Milestone(e.at, e.to_state, e.comment if e.event == "reject" else "")
        for e in dossier.history.order_by(DossierEvent.at, DossierEvent.id)
    ]
    card = card_of(dossier)
    if card is not None:
        steps += [Milestone(e.at, e.to_state) for e in card.history.order_by(CardEvent.at, CardEvent.id)]
    return steps


def card_of(dossier):
    """Return the card a request ordered, or None."""
    return Card.select().where(Card.dossier == dossier).order_by(Card.id.desc()).first()


def actions(dossier):
    """Return the driver's actions on a request in its state (DESIGN §3), in the order shown."""
    if dossier.procedure.code != "CQC":
        from public_forms import replacements  # replacements and re-dispatches have their own pages

        return replacements.actions(dossier)
    if dossier.state == RequestState.ANNULEE:
        return []
    if dossier.state == RequestState.BROUILLON:
        return ["reprendre", "annuler"]
    if dossier.state == RequestState.ATTENTE_COMPLEMENT:
        return ["afficher", "repondre"]
    return ["afficher"]


def in_progress(user):
    """Return (request, last status) of the requests still under way (home page « Suivi de mes demandes »)."""
    items = []
    for dossier in Dossier.requests_of(user).where(Dossier.state.not_in([RequestState.ANNULEE, RequestState.REFUSEE])):
        if dossier.state == RequestState.ACCEPTEE:
            card = card_of(dossier)
            # Done once its card is activated; a paid re-dispatch has no card of its own (the card's
            # own request follows it).
            if card is None or card.state in (CardState.ACTIVEE, CardState.REMPLACEE):
                continue
        items.append((dossier, timeline(dossier)[-1]))
    return items


def own_request(dossier_id):
    """Return the logged-in holder's request with this number, or 404."""
    dossier = (
        Dossier.select(Dossier, Procedure)
        .join(Procedure)
        .where(Dossier.id == dossier_id, Dossier.user == current_user.id, Procedure.code != "COMPTE_PARTICULIER")
        .first()
    )
    if dossier is None:
        abort(404)
    return dossier


def own_draft(dossier_id):
    """Return the holder's CQC draft and its data, or 404."""
    dossier = own_request(dossier_id)
    if dossier.procedure.code != "CQC":
        abort(404)
    return dossier, dossier.cqc.get()


def documents_of(dossier):
    """Return the request's current document of each kind it needs (None where missing)."""
    return {kind: cqc_requests.current_document(dossier, kind) for kind in CQC_DOCUMENTS}


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error):
    """Say a too-big upload was refused and go back to the page, where nothing saved is lost."""
    flash(TOO_BIG, "error")
    return redirect(request.path)


# --- « Mes demandes » ---------------------------------------------------------------------------


@bp.route("/")
@account_required()
def index():
    """Show « Faire une demande » and « Mes demandes en cours » (the timeline and actions of each request)."""
    dossiers = list(Dossier.requests_of(current_user._get_current_object()))
    rubrique = request.args.get("rubrique")
    if rubrique not in RUBRIQUES:
        rubrique = "en-cours" if dossiers else "faire"
    items = [
        {"dossier": d, "timeline": timeline(d), "actions": actions(d), "card": card_of(d),
         "cqc": d.cqc.get() if d.procedure.code == "CQC" and d.state != RequestState.ANNULEE else None,
         "anomalies": list(d.open_anomalies()) if d.state == RequestState.ATTENTE_COMPLEMENT else []}
        for d in dossiers
    ]
    return render_template(
        "public/requests/index.html", rubrique=rubrique, rubriques=RUBRIQUES, items=items,
        is_driver=current_user.role == Role.DRIVER,
    )


@bp.route("/cqc", methods=["GET", "POST"])
@account_required(Role.DRIVER)
def cqc():
    """Show the CQC card's expected documents and « Commencer »; starting is refused, with the reason, when not eligible."""
    form = FlaskForm()
    refusal = None
    if form.validate_on_submit():
        try:
            dossier = cqc_requests.start(current_user._get_current_object())
        except Refused as error:
            refusal = error.message
        else:
            return redirect(url_for("requests.step", dossier_id=dossier.id, step=dossier.cqc.get().step))
    return render_template("public/requests/cqc.html", form=form, refusal=refusal, documents=CQC_DOCUMENTS)


# --- The steps of a draft -----------------------------------------------------------------------


@bp.route("/<int:dossier_id>/etapes/<step>", methods=["GET", "POST"])
@account_required(Role.DRIVER)
def step(dossier_id, step):
    """Show one step of a draft; « Suivant » saves it and goes on, « Précédent » goes back keeping what was saved."""
    dossier, data = own_draft(dossier_id)
    if step not in cqc_requests.STEPS:
        abort(404)
    if dossier.state != RequestState.BROUILLON:
        return redirect(url_for("requests.show", dossier_id=dossier.id))
    if cqc_requests.STEPS.index(step) > cqc_requests.STEPS.index(data.step):
        return redirect(url_for("requests.step", dossier_id=dossier.id, step=data.step))
    going_back = request.form.get("action") == "precedent"
    position = cqc_requests.STEPS.index(step)
    previous = cqc_requests.STEPS[position - 1] if position else None
    following = cqc_requests.STEPS[position + 1] if position + 1 < len(cqc_requests.STEPS) else None
    context = {"dossier": dossier, "data": data, "step": step, "previous": previous, "error": None}

    if step == "identite":
        form = IdentityForm(data={"certify": data.identity_confirmed})
        if form.validate_on_submit():
            data.identity_confirmed = True
            data.save()
            return _advance(data, following)
        context["driver"] = current_user.driver
    elif step in cqc_requests.STEP_DOCUMENTS:
        form = UploadForm()
        kind = cqc_requests.STEP_DOCUMENTS[step]
        if form.is_submitted() and form.validate():
            upload = form.document.data
            if upload is not None:
                try:
                    cqc_requests.save_document(dossier, kind, upload)
                except storage.UploadRefused as refusal:
                    if not going_back:
                        form.document.errors.append(refusal.args[0])
            if going_back:
                return redirect(url_for("requests.step", dossier_id=dossier.id, step=previous))
            if not form.document.errors:
                if cqc_requests.current_document(dossier, kind) is None:
                    form.document.errors.append("Choisissez un fichier.")
                else:
                    return _advance(data, following)
        form.document.label.text = DOCUMENT_LABELS[kind]
        context.update(kind=kind, current=cqc_requests.current_document(dossier, kind), hint=UPLOAD_HINTS[step])
    elif step == "adresse":
        form = AddressForm(data={name: getattr(data, name) for name in REQUEST_FIELDS})
        if form.is_submitted():
            valid = form.validate()
            # Going back keeps every field typed correctly; going on needs them all right.
            if valid or going_back:
                for name in REQUEST_FIELDS:
                    if not form[name].errors:
                        setattr(data, name, form[name].data)
                data.save()
            if going_back:
                return redirect(url_for("requests.step", dossier_id=dossier.id, step=previous))
            if valid:
                return _advance(data, following)
    else:  # recapitulatif
        form = FlaskForm()
        if form.validate_on_submit():
            if going_back:
                return redirect(url_for("requests.step", dossier_id=dossier.id, step=previous))
            try:
                cqc_requests.submit(dossier, current_user._get_current_object())
            except (Refused, transitions.TransitionError) as refusal:
                context["error"] = str(refusal)
            else:
                return redirect(url_for("requests.sent", dossier_id=dossier.id))
        context.update(summary_context(dossier, data), missing=cqc_requests.missing(dossier))
    if going_back and previous:
        return redirect(url_for("requests.step", dossier_id=dossier.id, step=previous))
    return render_template("public/requests/step.html", form=form, steps=cqc_requests.STEPS,
                           labels=cqc_requests.STEP_LABELS, **context)


def _advance(data, following):
    """Remember the step reached and open it."""
    cqc_requests.reach(data, following)
    return redirect(url_for("requests.step", dossier_id=data.dossier_id, step=following))


def summary_context(dossier, data):
    """Return what a request's summary (« Récapitulatif ») shows."""
    return {
        "training": Training.get_by_id(data.training_id),
        "driver": dossier.user.driver,
        "holder": dossier.user,
        "documents": documents_of(dossier),
        "document_labels": CQC_DOCUMENTS,
        "document_steps": DOCUMENT_STEPS,
    }


@bp.route("/<int:dossier_id>/envoyee")
@account_required(Role.DRIVER)
def sent(dossier_id):
    """Say the request is sent for processing."""
    dossier, _ = own_draft(dossier_id)
    if dossier.state == RequestState.BROUILLON:
        return redirect(url_for("requests.step", dossier_id=dossier.id, step="recapitulatif"))
    return render_template("public/requests/sent.html", dossier=dossier)


@bp.route("/<int:dossier_id>/annuler", methods=["POST"])
@account_required(Role.DRIVER)
def cancel(dossier_id):
    """Cancel a draft of any procedure: the information and documents given are not kept."""
    dossier = own_request(dossier_id)
    if FlaskForm().validate_on_submit():
        try:
            cqc_requests.cancel(dossier, current_user._get_current_object())
        except transitions.TransitionError as refusal:
            flash(str(refusal), "error")
        else:
            flash(f"Votre demande n° {dossier.id} est annulée : les informations et documents fournis ne sont pas conservés.",
                  "success")
    return redirect(url_for("requests.index", rubrique="en-cours"))


@bp.route("/<int:dossier_id>")
@account_required(Role.DRIVER)
def show(dossier_id):
    """« Afficher »: the request's summary, read-only."""
    dossier, data = own_draft(dossier_id)
    return render_template(
        "public/requests/show.html", dossier=dossier, data=data, timeline=timeline(dossier),
        actions=actions(dossier), **summary_context(dossier, data),
    )


@bp.route("/<int:dossier_id>/documents/<int:document_id>")
@account_required(Role.DRIVER)
def document(dossier_id, document_id):
    """Show one of the holder's uploaded documents (preview), to the holder only."""
    dossier = own_request(dossier_id)
    item = Document.get_or_none(Document.id == document_id, Document.dossier == dossier.id)
    if item is None:
        abort(404)
    return stored_file(item.path, item.content_type, item.original_name or f"{item.kind}{_suffix(item)}")


def _suffix(item):
    return {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}.get(item.content_type, "")


# --- « Répondre » to an information request ---------------------------------------------------


def answer_form(anomalies, data):
    """Return a form with only the items staff asked about: request fields pre-filled, documents to upload."""

    class Form(FlaskForm):
        pass

    for anomaly in anomalies:
        if anomaly.field.startswith("document:"):
            setattr(Form, anomaly.field, FileField(anomaly.field_label))
        elif anomaly.field in REQUEST_FIELDS:
            setattr(Form, anomaly.field, getattr(AddressForm, anomaly.field))
    return Form(data={a.field: getattr(data, a.field) for a in anomalies if a.field in REQUEST_FIELDS})


def _pending_key(dossier):
    return f"answer-uploads-{dossier.id}"


@bp.route("/<int:dossier_id>/repondre", methods=["GET", "POST"])
@account_required(Role.DRIVER)
def answer(dossier_id):
    """Correct only the items staff asked about and send the request back for processing."""
    dossier, data = own_draft(dossier_id)
    if dossier.state != RequestState.ATTENTE_COMPLEMENT:
        return redirect(url_for("requests.index", rubrique="en-cours"))
    anomalies = list(dossier.open_anomalies())
    form = answer_form(anomalies, data)
    # Files accepted on an earlier try of this form, kept so that a mistake elsewhere loses nothing.
    pending = dict(session.get(_pending_key(dossier), {}))
    if form.is_submitted():
        valid = form.validate()
        uploads = {}
        for anomaly in anomalies:
            if not anomaly.field.startswith("document:"):
                continue
            field = form[anomaly.field]
            if field.data is not None:
                try:
                    content, _, suffix = storage.check_upload(field.data)
                except storage.UploadRefused as refusal:
                    field.errors.append(refusal.args[0])
                    valid = False
                    continue
                _drop_pending(pending, anomaly.field)
                pending[anomaly.field] = [storage.store(content, f"dossiers/{dossier.id}/reponse", suffix), field.data.filename]
            if anomaly.field in pending:
                path, name = pending[anomaly.field]
                uploads[anomaly.field] = FileStorage(io.BytesIO(storage.read(path)), filename=name)
            else:
                field.errors.append("Choisissez un fichier.")
                valid = False
        session[_pending_key(dossier)] = pending
        if valid:
            values = {a.field: form[a.field].data for a in anomalies if a.field in REQUEST_FIELDS}
            try:
                cqc_requests.answer(dossier, current_user._get_current_object(), values, uploads)
            except (storage.UploadRefused, transitions.TransitionError) as refusal:
                flash(str(refusal), "error")
            else:
                for name in list(pending):
                    _drop_pending(pending, name)
                session.pop(_pending_key(dossier), None)
                flash("Votre réponse est envoyée : votre demande est de nouveau en cours de traitement par IN Groupe.",
                      "success")
                return redirect(url_for("requests.index", rubrique="en-cours"))
    return render_template(
        "public/requests/answer.html", form=form, dossier=dossier, anomalies=anomalies, pending=pending,
        documents=documents_of(dossier), formats=FORMATS,
    )


def _drop_pending(pending, item):
    if item in pending:
        storage.delete(pending.pop(item)[0])
