"""« Remplacement, Echange »: replace a lost, stolen or defective CQC step by step, pay, print the return coupon."""
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import BooleanField, RadioField, SelectMultipleField, StringField, TextAreaField, ValidationError
from wtforms.validators import DataRequired
from wtforms.widgets import CheckboxInput, ListWidget

from models import (
    DOCUMENT_LABELS,
    REQUEST_FIELDS,
    Dossier,
    Payment,
    PaymentStatus,
    Procedure,
    Replacement,
    ReplacementReason,
    RequestState,
    Role,
)
from public_forms import account_required
from public_forms import fields as f
from public_forms import requests as requests_views
from public_forms.requests import FORMATS, RUBRIQUES, TOO_BIG, timeline
from services import documents, payments, replacements, storage, transitions
from services import requests as cqc_requests
from services.errors import Refused

bp = Blueprint("replacements", __name__, url_prefix="/mes-demandes/remplacement")

#: The files this blueprint shows: the three motifs and the paid re-dispatch of an undelivered card.
PROCEDURE_CODES = (*replacements.PROCEDURES.values(), "CQC_PND")
#: What each motif means, under its name on the choice page.
MOTIF_HINTS = {
    ReplacementReason.PERTE: "J'ai perdu ma carte. Elle sera reproduite à l'identique ; le remplacement est payant.",
    ReplacementReason.VOL: "Ma carte m'a été volée. Je joins la déclaration de vol ; le remplacement est payant.",
    ReplacementReason.QUALITE: "Ma carte présente un défaut. Je la renvoie à IN Groupe avec le coupon retour pour analyse.",
}
#: Where the driver posts a defective card (printed on the return coupon).
RETURN_ADDRESS = ["IN Groupe – Service Qualité CQC", "Rue des Frères Beaumont", "59128 Flers-en-Escrebieux"]
#: The product a replacement is paid as.
PRODUCT = "CQC_REMPLACEMENT"
#: Labels of the billing address fields.
BILLING_FIELDS = {
    "billing_name": "Nom ou raison sociale",
    "billing_address": "Adresse de facturation",
    "billing_postal_code": "Code postal de facturation",
    "billing_city": "Commune de facturation",
}
ADDRESS_FIELDS = (*REQUEST_FIELDS, *BILLING_FIELDS)
#: The longest free texts a driver may type.
TEXT_MAX = 1000


# --- Forms ------------------------------------------------------------------------------------------


class MotifForm(FlaskForm):
    motif = RadioField(
        "Motif de ma demande",
        choices=[(reason.value, label) for reason, label in replacements.REASON_LABELS.items()],
        validators=[DataRequired(message="Choisissez le motif de votre demande : Perte, Vol ou Qualité.")],
    )


def commitment_label(reason):
    what = "le vol" if reason == ReplacementReason.VOL else "la perte"
    return f"Je déclare {what} de ma carte et je m'engage à la restituer si je venais à la retrouver"


class LossForm(FlaskForm):
    """Perte / Vol: the declaration and the commitment to give the card back if found."""

    circumstances = TextAreaField("Circonstances (facultatif)", [f.max_length(TEXT_MAX)], filters=[f.strip])
    commitment = BooleanField(
        "Je déclare la perte de ma carte et je m'engage à la restituer si je venais à la retrouver",
        [DataRequired(message="Cochez la case pour faire votre déclaration et vous engager à restituer votre carte si vous la retrouvez.")],
    )


class CheckboxList(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        # A value outside the list is ignored rather than reported: only the known defects are kept.
        self.data = [value for value in self.data or [] if value in dict(self.choices)]


def at_least_one(form, field):
    if not field.data:
        raise ValidationError("Cochez au moins un élément en défaut.")


class DefectsForm(FlaskForm):
    """Qualité: the defective elements (at least one) and a free description."""

    defects = CheckboxList("Éléments en défaut", choices=[(d, d) for d in replacements.DEFECTS], validators=[at_least_one])
    circumstances = TextAreaField("Description du défaut (facultatif)", [f.max_length(TEXT_MAX)], filters=[f.strip])


class TheftForm(FlaskForm):
    document = FileField(DOCUMENT_LABELS[replacements.THEFT_DECLARATION])


def _address_field(label, *checks):
    return StringField(label, list(checks), filters=[f.strip])


class AddressesForm(FlaskForm):
    delivery_name = _address_field(REQUEST_FIELDS["delivery_name"], f.required(), f.max_length(120))
    delivery_address = _address_field(REQUEST_FIELDS["delivery_address"], f.required(), f.max_length(200))
    delivery_address_extra = _address_field(REQUEST_FIELDS["delivery_address_extra"], f.max_length(200))
    delivery_postal_code = _address_field(REQUEST_FIELDS["delivery_postal_code"], f.required(), f.postal_code)
    delivery_city = _address_field(REQUEST_FIELDS["delivery_city"], f.required(), f.max_length(120))
    billing_name = _address_field(BILLING_FIELDS["billing_name"], f.required(), f.max_length(120))
    billing_address = _address_field(BILLING_FIELDS["billing_address"], f.required(), f.max_length(200))
    billing_postal_code = _address_field(BILLING_FIELDS["billing_postal_code"], f.required(), f.postal_code)
    billing_city = _address_field(BILLING_FIELDS["billing_city"], f.required(), f.max_length(120))


# --- What the pages show about a replacement --------------------------------------------------------


def is_replacement(dossier):
    """Is this file one this blueprint shows (a replacement or a paid re-dispatch)?"""
    return dossier.procedure.code in PROCEDURE_CODES


def payment_to_retry(dossier):
    """Return the last payment of a file still awaiting one when it was refused or abandoned, else None."""
    if dossier.state not in (RequestState.BROUILLON, RequestState.ATTENTE_COMPLEMENT):
        return None
    last = Payment.select().where(Payment.dossier == dossier.id).order_by(Payment.id.desc()).first()
    if last is None or last.status == PaymentStatus.PAID:
        return None
    return last


def actions(dossier):
    """Return the driver's actions on a replacement file in its state, as « Mes demandes en cours » shows them."""
    if not is_replacement(dossier) or dossier.state == RequestState.ANNULEE:
        return []
    if dossier.state == RequestState.BROUILLON:
        return ["reprendre", "annuler"]
    shown = ["afficher"]
    replacement = dossier.replacement.first()
    if (replacement is not None and replacement.reason == ReplacementReason.QUALITE and replacement.received_at is None
            and dossier.state in (RequestState.ENVOYEE, RequestState.EN_INSTRUCTION)):
        shown.append("coupon")
    if dossier.state == RequestState.ATTENTE_COMPLEMENT:
        shown.append("repondre")
    return shown


def own_file(dossier_id, codes=PROCEDURE_CODES):
    """Return the logged-in driver's replacement file with this number and its data, or 404."""
    dossier = (
        Dossier.select(Dossier, Procedure)
        .join(Procedure)
        .where(Dossier.id == dossier_id, Dossier.user == current_user.id, Procedure.code.in_(codes))
        .first()
    )
    replacement = dossier.replacement.first() if dossier is not None else None
    if replacement is None:
        abort(404)
    return dossier, replacement


def own_replacement(dossier_id):
    """Return the driver's replacement (loss, theft, defect) and its data, or 404."""
    return own_file(dossier_id, tuple(replacements.PROCEDURES.values()))


def defects_of(replacement):
    return [d.strip() for d in (replacement.defects or "").split(",") if d.strip()]


def price_of(product=PRODUCT):
    """Return (amount HT, VAT rate, TTC) of a product today, or None when no tariff is in force."""
    try:
        amount_ht, vat_rate, cents = payments.price(product)
    except payments.PaymentError:
        return None
    return {"ht": amount_ht, "vat_rate": vat_rate, "ttc": cents / 100}


def summary_context(dossier, replacement):
    """Return what a replacement's summary shows."""
    reason = replacement.reason
    return {
        "replacement": replacement,
        "reason_label": replacements.REASON_LABELS.get(reason, "Réexpédition"),
        "card": replacement.card,
        "holder": dossier.user,
        "defects": defects_of(replacement),
        "theft_declaration": cqc_requests.current_document(dossier, replacements.THEFT_DECLARATION)
        if reason == ReplacementReason.VOL else None,
        "commitment_label": commitment_label(reason),
        "price": price_of("REEXPEDITION" if dossier.procedure.code == "CQC_PND" else PRODUCT),
        "payments": list(Payment.select().where(Payment.dossier == dossier.id).order_by(Payment.id)),
        "steps": replacements.STEPS.get(reason, []),
    }


@bp.errorhandler(RequestEntityTooLarge)
def too_large(error):
    """Say a too-big upload was refused and go back to the page, where nothing saved is lost."""
    flash(TOO_BIG, "error")
    return redirect(request.path)


# --- « Remplacement, Echange »: the motif ---------------------------------------------------------


@bp.route("/", methods=["GET", "POST"])
@account_required(Role.DRIVER)
def index():
    """Choose the motif (« Perte », « Vol », « Qualité ») of the card's replacement; refused, with why, without a card to replace."""
    user = current_user._get_current_object()
    card = draft = refusal = None
    try:
        card, draft = replacements.replaceable_card(user)
    except Refused as error:
        refusal = error.message
    reason = draft.reason if draft is not None else None
    form = MotifForm(data={"motif": reason})
    if form.validate_on_submit():
        try:
            dossier = replacements.start(user, ReplacementReason(form.motif.data))
        except (Refused, transitions.TransitionError) as error:
            refusal = str(error)
        else:
            return redirect(url_for(".step", dossier_id=dossier.id, step=dossier.replacement.get().step))
    return render_template(
        "public/replacements/index.html", form=form, card=card, draft=draft, refusal=refusal, rubriques=RUBRIQUES,
        hints=MOTIF_HINTS, labels=replacements.REASON_LABELS, price=price_of(),
    )


# --- The steps of a draft -------------------------------------------------------------------------


def _reach(dossier, replacement, steps, step):
    """Remember the furthest step reached, so « Reprendre » resumes there."""
    cqc_requests.touch(dossier)
    if steps.index(step) > steps.index(replacement.step):
        Replacement.update(step=step).where(Replacement.id == replacement.id).execute()
        replacement.step = step


@bp.route("/<int:dossier_id>/etapes/<step>", methods=["GET", "POST"])
@account_required(Role.DRIVER)
def step(dossier_id, step):
    """Show one step of a replacement draft; « Suivant » saves it and goes on, « Précédent » goes back."""
    dossier, data = own_replacement(dossier_id)
    steps = replacements.STEPS[data.reason]
    if step not in steps:
        abort(404)
    if dossier.state != RequestState.BROUILLON:
        return redirect(url_for(".show", dossier_id=dossier.id))
    if data.step not in steps:  # a step name from an older version: start again at the first
        data.step = steps[0]
    if steps.index(step) > steps.index(data.step):
        return redirect(url_for(".step", dossier_id=dossier.id, step=data.step))
    going_back = request.form.get("action") == "precedent"
    position = steps.index(step)
    previous = steps[position - 1] if position else None
    following = steps[position + 1] if position + 1 < len(steps) else None
    here = url_for(".step", dossier_id=dossier.id, step=step)
    context = {"dossier": dossier, "data": data, "step": step, "steps": steps, "previous": previous, "error": None}

    def advance():
        _reach(dossier, data, steps, following)
        return redirect(url_for(".step", dossier_id=dossier.id, step=following))

    def back():
        return redirect(url_for(".step", dossier_id=dossier.id, step=previous) if previous else here)

    if step == "declaration" and data.reason == ReplacementReason.QUALITE:
        form = DefectsForm(data={"defects": defects_of(data), "circumstances": data.circumstances})
        if form.is_submitted():
            if going_back:
                return back()
            if form.validate():
                Replacement.update(defects=",".join(form.defects.data), circumstances=form.circumstances.data).where(
                    Replacement.id == data.id).execute()
                return advance()
    elif step == "declaration":
        form = LossForm(data={"commitment": data.commitment, "circumstances": data.circumstances})
        form.commitment.label.text = commitment_label(data.reason)
        if form.is_submitted():
            if going_back:
                return back()
            if form.validate():
                Replacement.update(commitment=True, circumstances=form.circumstances.data).where(
                    Replacement.id == data.id).execute()
                return advance()
    elif step == "declaration_vol":
        form = TheftForm()
        kind = replacements.THEFT_DECLARATION
        if form.is_submitted() and form.validate():
            upload = form.document.data
            if upload is not None and upload.filename:
                try:
                    cqc_requests.save_document(dossier, kind, upload)
                except storage.UploadRefused as refusal:
                    form.document.errors.append(refusal.args[0])
            if going_back:
                return back()
            if not form.document.errors:
                if cqc_requests.current_document(dossier, kind) is None:
                    form.document.errors.append("Versez la déclaration de vol établie par une autorité compétente.")
                else:
                    return advance()
        context.update(current=cqc_requests.current_document(dossier, kind), formats=FORMATS)
    elif step == "adresses":
        form = AddressesForm(data={name: getattr(data, name) for name in ADDRESS_FIELDS})
        if form.is_submitted():
            valid = form.validate()
            # Going back keeps every field typed correctly; going on needs them all right.
            if valid or going_back:
                changes = {name: form[name].data for name in ADDRESS_FIELDS if not form[name].errors}
                if changes:
                    Replacement.update(**changes).where(Replacement.id == data.id).execute()
            if going_back:
                return back()
            if valid:
                return advance()
    else:  # recapitulatif
        form = FlaskForm()
        if form.validate_on_submit():
            if going_back:
                return back()
            try:
                payment = replacements.validate(dossier, current_user._get_current_object())
            except (Refused, payments.PaymentError, transitions.TransitionError) as refusal:
                context["error"] = str(refusal)
            else:
                if payment is None:
                    return redirect(url_for(".sent", dossier_id=dossier.id))
                return redirect(payments.hosted_page_url(payment))
        data = Replacement.get_by_id(data.id)
        context.update(summary_context(dossier, data), data=data, missing=replacements.missing(dossier),
                       retry=payment_to_retry(dossier))
    if going_back and previous:
        return back()
    context.setdefault("reason_label", replacements.REASON_LABELS[data.reason])
    return render_template("public/replacements/step.html", form=form, labels=replacements.STEP_LABELS, **context)


@bp.route("/<int:dossier_id>/reprendre")
@account_required(Role.DRIVER)
def resume(dossier_id):
    """« Reprendre »: open a draft at the step it reached (a re-dispatch at its card's page, to pay again)."""
    dossier, data = own_file(dossier_id)
    if dossier.state != RequestState.BROUILLON:
        return redirect(url_for(".show", dossier_id=dossier.id))
    if dossier.procedure.code == "CQC_PND":
        return redirect(url_for("cards.pnd", card_id=data.card_id))
    steps = replacements.STEPS[data.reason]
    return redirect(url_for(".step", dossier_id=dossier.id, step=data.step if data.step in steps else steps[0]))


@bp.route("/<int:dossier_id>/annuler", methods=["POST"])
@account_required(Role.DRIVER)
def cancel(dossier_id):
    """Cancel a replacement draft (the same cancellation as any request's)."""
    own_file(dossier_id)
    return requests_views.cancel(dossier_id)


# --- After validation ---------------------------------------------------------------------------


@bp.route("/<int:dossier_id>/envoyee")
@account_required(Role.DRIVER)
def sent(dossier_id):
    """Qualité: say the request is sent, and give the return coupon to print and post with the card."""
    dossier, data = own_replacement(dossier_id)
    if dossier.state == RequestState.BROUILLON:
        return redirect(url_for(".resume", dossier_id=dossier.id))
    if data.reason != ReplacementReason.QUALITE:
        return redirect(url_for(".show", dossier_id=dossier.id))
    return render_template("public/replacements/sent.html", dossier=dossier, data=data, return_address=RETURN_ADDRESS)


@bp.route("/<int:dossier_id>")
@account_required(Role.DRIVER)
def show(dossier_id):
    """« Afficher »: the replacement's summary, its statuses and its payments, read-only."""
    dossier, data = own_file(dossier_id)
    return render_template(
        "public/replacements/show.html", dossier=dossier, data=data, timeline=timeline(dossier),
        actions=actions(dossier), return_address=RETURN_ADDRESS, **summary_context(dossier, data),
    )


def return_coupon_pdf(dossier, replacement):
    """Return the PDF of the « coupon retour » the driver posts with a defective card."""
    holder = dossier.user
    card = replacement.card
    long_text = sum(len(value or "") for value in (holder.full_name, replacement.circumstances, card.birth_place))
    return documents.render_pdf(
        "pdf/return_coupon.html", issuer=documents.ISSUER, operator=documents.OPERATOR, dossier=dossier,
        replacement=replacement, card=card, holder=holder, driver=holder.driver, defects=defects_of(replacement),
        return_address=RETURN_ADDRESS, sent_at=dossier.submitted_at, compact=long_text > documents.COMPACT_AFTER,
    )


@bp.route("/<int:dossier_id>/coupon-retour.pdf")
@account_required(Role.DRIVER)
def coupon(dossier_id):
    """Download the return coupon of a sent quality request, for its holder only."""
    dossier, data = own_replacement(dossier_id)
    if data.reason != ReplacementReason.QUALITE or dossier.state in (RequestState.BROUILLON, RequestState.ANNULEE):
        abort(404)
    response = Response(return_coupon_pdf(dossier, data), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="coupon-retour-demande-{dossier.id}.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- « Répondre »: the defect is the driver's, the replacement is paid -----------------------------


@bp.route("/<int:dossier_id>/repondre", methods=["GET", "POST"])
@account_required(Role.DRIVER)
def answer(dossier_id):
    """Explain IN Groupe's decision on a defect imputed to the driver, and « Payer le remplacement »."""
    dossier, data = own_replacement(dossier_id)
    if dossier.state != RequestState.ATTENTE_COMPLEMENT:
        return redirect(url_for("requests.index", rubrique="en-cours"))
    anomalies = list(dossier.open_anomalies())
    to_pay = any(a.field == "paiement" for a in anomalies)
    form = FlaskForm()
    error = None
    if to_pay and form.validate_on_submit():
        try:
            payment = payments.checkout(dossier, current_user._get_current_object(), PRODUCT)
        except payments.PaymentError as refusal:
            error = str(refusal)
        else:
            return redirect(payments.hosted_page_url(payment))
    return render_template(
        "public/replacements/answer.html", form=form, dossier=dossier, data=data, anomalies=anomalies, to_pay=to_pay,
        error=error, fault=replacements.FAULTS.get(data.fault, ""), retry=payment_to_retry(dossier),
        **{k: v for k, v in summary_context(dossier, data).items() if k not in ("replacement",)},
    )

