"""« Mes Demandes » of a transport company: the tachograph driver card and company card requests, and their wizard."""
from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField

from models import TACHY_REASON_LABELS, CompanyDriver, ProcedureCode, RequestState
from public_forms import COMPANY, account_required, wizard
from services import company_drivers, dossiers, procedures
from services.errors import Refused

bp = Blueprint("tachographs", __name__, url_prefix="/mes-demandes/tachygraphe")
wizard.install(bp, audiences=COMPANY)
company_only = account_required(*COMPANY)


class DriverCardForm(FlaskForm):
    company_driver = SelectField("Conducteur", coerce=int, validate_choice=True,
                                 invalid_choice_message="Choisissez un conducteur de « Mes Conducteurs ».")
    reason = RadioField("Motif de la demande", choices=list(TACHY_REASON_LABELS.items()),
                        invalid_choice_message="Choisissez le motif de la demande.")


def _start(code, **params):
    """Open (or resume) a request; return the redirect to its step, or the refusal's message."""
    try:
        dossier = dossiers.start(code, current_user._get_current_object(), **params)
    except Refused as refusal:
        return None, refusal.message
    return redirect(url_for(".resume", dossier_id=dossier.id)), None


@bp.route("/conducteur", methods=["GET", "POST"])
@company_only
def driver_card():
    """« Carte tachygraphe conducteur »: choose the driver and the reason, then « Commencer »."""
    organisation = current_user.organisation
    drivers = list(company_drivers.search(organisation))
    form = DriverCardForm(data={"company_driver": request.args.get("conducteur", type=int),
                                "reason": request.args.get("motif")})
    form.company_driver.choices = [(0, "— Choisissez un conducteur —")] + [
        (d.id, f"{d.last_name.upper()} {d.first_name} – permis {d.licence_number}") for d in drivers]
    refusal = None
    if form.validate_on_submit():
        driver = CompanyDriver.get_or_none(CompanyDriver.id == form.company_driver.data,
                                           CompanyDriver.organisation == organisation)
        if driver is None:
            form.company_driver.errors.append("Choisissez un conducteur de « Mes Conducteurs ».")
        else:
            response, refusal = _start(ProcedureCode.TACHY_CONDUCTEUR, company_driver=driver, reason=form.reason.data)
            if response is not None:
                return response
    return render_template("public/tachographs/driver_card.html", form=form, refusal=refusal, drivers=drivers,
                           contract=organisation.contract_in_force(),
                           documents=procedures.get(ProcedureCode.TACHY_CONDUCTEUR).documents)


@bp.route("/entreprise", methods=["GET", "POST"])
@company_only
def company_card():
    """« Carte tachygraphe entreprise »: the documents expected, then « Commencer »."""
    form = FlaskForm()
    refusal = None
    if form.validate_on_submit():
        response, refusal = _start(ProcedureCode.TACHY_ENTREPRISE)
        if response is not None:
            return response
    return render_template("public/tachographs/company_card.html", form=form, refusal=refusal,
                           contract=current_user.organisation.contract_in_force(),
                           documents=procedures.get(ProcedureCode.TACHY_ENTREPRISE).documents)


@bp.route("/<int:dossier_id>/envoyee")
@company_only
def sent(dossier_id):
    """Say the request is sent for processing."""
    dossier, _, _ = wizard.own_dossier(dossier_id)
    if dossier.state == RequestState.BROUILLON:
        return redirect(url_for(".step", dossier_id=dossier.id, step="recapitulatif"))
    return render_template("public/requests/sent.html", dossier=dossier)
