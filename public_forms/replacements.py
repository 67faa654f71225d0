"""« Remplacement, Echange »: replace a lost, stolen or defective CQC, pay, print the return coupon."""
from flask import Blueprint, Response, abort, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField
from wtforms.validators import DataRequired

from models import DECLARED_MISSING, Product, ReplacementReason, RequestState
from public_forms import Audience, account_required, wizard
from public_forms.requests import RUBRIQUES
from services import documents, dossiers, payments
from services.errors import Refused
from services.procedures import replacements

bp = Blueprint("replacements", __name__, url_prefix="/mes-demandes/remplacement")
wizard.install(bp, answer=False)

#: What each reason means, under its name on the choice page.
REASON_HINTS = {
    ReplacementReason.PERTE: "J'ai perdu ma carte. Elle sera reproduite à l'identique ; le remplacement est payant.",
    ReplacementReason.VOL: "Ma carte m'a été volée. Je joins la déclaration de vol ; le remplacement est payant.",
    ReplacementReason.QUALITE: "Ma carte présente un défaut. Je la renvoie à IN Groupe avec le coupon retour pour analyse.",
}


class ReasonForm(FlaskForm):
    motif = RadioField(
        "Motif de ma demande",
        choices=[(reason.value, label) for reason, label in replacements.REASON_LABELS.items()],
        validators=[DataRequired(message="Choisissez le motif de votre demande : Perte, Vol ou Qualité.")],
    )


def own_quality_dossier(dossier_id):
    """Return the holder's quality replacement and its data, or 404."""
    dossier, _, data = wizard.own_dossier(dossier_id)
    if data.reason != ReplacementReason.QUALITE:
        abort(404)
    return dossier, data


@bp.route("/", methods=["GET", "POST"])
@account_required(Audience.DRIVER)
def index():
    """Choose the reason (« Perte », « Vol », « Qualité ») of the card's replacement; refused, with why, without a card to replace."""
    user = current_user._get_current_object()
    card = draft = refusal = None
    try:
        card, draft = replacements.replaceable_card(user)
    except Refused as error:
        refusal = error.message
    form = ReasonForm(data={"motif": draft.reason if draft is not None else None})
    if form.validate_on_submit():
        try:
            dossier = dossiers.start(replacements.CODES[ReplacementReason(form.motif.data)], user)
        except Refused as error:
            refusal = error.message
        else:
            return redirect(url_for(".step", dossier_id=dossier.id, step=dossiers.data_of(dossier).step))
    if card is not None and card.state in DECLARED_MISSING:
        # A card declared lost or stolen is replaced for loss or theft only (« Qualité » is refused, saying why).
        form.motif.choices = [(value, label) for value, label in form.motif.choices if value != ReplacementReason.QUALITE]
    return render_template(
        "public/replacements/index.html", form=form, card=card, draft=draft, refusal=refusal, rubriques=RUBRIQUES,
        hints=REASON_HINTS, labels=replacements.REASON_LABELS, price=replacements.price_of(Product.CQC_REMPLACEMENT),
    )


@bp.route("/<int:dossier_id>/envoyee")
@account_required(Audience.DRIVER)
def sent(dossier_id):
    """Qualité: say the request is sent, and give the return coupon to print and post with the card."""
    dossier, data = own_quality_dossier(dossier_id)
    if dossier.state == RequestState.BROUILLON:
        return redirect(url_for(".resume", dossier_id=dossier.id))
    return render_template("public/replacements/sent.html", dossier=dossier, data=data, return_address=replacements.RETURN_ADDRESS)


def return_coupon_pdf(dossier, replacement):
    """Return the PDF of the « coupon retour » the driver posts with a defective card."""
    holder = dossier.user
    card = replacement.card
    long_text = sum(len(value or "") for value in (holder.full_name, replacement.circumstances, card.birth_place))
    return documents.render_pdf(
        "pdf/return_coupon.html", issuer=documents.ISSUER, operator=documents.OPERATOR, dossier=dossier,
        replacement=replacement, card=card, holder=holder, driver=holder.driver, defects=replacement.defect_list,
        return_address=replacements.RETURN_ADDRESS, sent_at=dossier.submitted_at, compact=long_text > documents.COMPACT_AFTER,
    )


@bp.route("/<int:dossier_id>/coupon-retour.pdf")
@account_required(Audience.DRIVER)
def coupon(dossier_id):
    """Download the return coupon of a sent quality request, for its holder only."""
    dossier, data = own_quality_dossier(dossier_id)
    if dossier.state in (RequestState.BROUILLON, RequestState.ANNULEE):
        abort(404)
    response = Response(return_coupon_pdf(dossier, data), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="coupon-retour-demande-{dossier.id}.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/<int:dossier_id>/repondre", methods=["GET", "POST"])
@account_required(Audience.DRIVER)
def answer(dossier_id):
    """Explain IN Groupe's decision on a defect imputed to the driver, and « Payer le remplacement »."""
    dossier, declaration, data = wizard.own_dossier(dossier_id)
    if dossier.state != RequestState.ATTENTE_COMPLEMENT:
        return redirect(url_for("requests.index", rubrique="en-cours"))
    anomalies = list(dossier.open_anomalies())
    to_pay = any(a.field == "paiement" for a in anomalies)
    form = FlaskForm()
    error = None
    if to_pay and form.validate_on_submit():
        try:
            payment = payments.checkout(dossier, current_user._get_current_object(), Product.CQC_REMPLACEMENT)
        except Refused as refusal:
            error = refusal.message
        else:
            return redirect(payments.hosted_page_url(payment))
    return render_template(
        "public/replacements/answer.html", form=form, dossier=dossier, data=data, anomalies=anomalies, to_pay=to_pay,
        error=error, fault=replacements.FAULTS.get(data.fault, ""), retry=wizard.payment_to_retry(dossier),
        **wizard.summary_context(dossier, declaration, data),
    )
