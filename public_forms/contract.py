"""« Mon Contrat »: an organisation subscribes its contract with IN Groupe, then sees its number and billing details.

A transport company subscribes the TACHY contract, a training centre the CQC contract; a centre under
contract invites the centres attached to it (guide 002, case 2).
"""
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField

from models import Contract, OrgKind, ProcedureCode, RequestState
from public_forms import ADMINS, account_required, wizard
from services import dossiers, organisations
from services import fields as f
from services.errors import Refused

bp = Blueprint("contract", __name__, url_prefix="/mon-contrat")
wizard.install(bp, audiences=ADMINS)
admins_only = account_required(*ADMINS)

#: The contract each kind of organisation subscribes.
CONTRACTS = {OrgKind.COMPANY: ProcedureCode.CONTRAT_TACHY, OrgKind.CENTRE: ProcedureCode.CONTRAT_CQC}


class InviteForm(f.Form):
    siret = StringField("Numéro de SIRET du centre à rattacher", [f.required(), f.max_length(20)], filters=[f.strip])


@bp.route("/", methods=["GET", "POST"])
@admins_only
def index():
    """Show the contract (its state, number, date and billing details) or offer to subscribe it."""
    organisation = current_user.organisation
    dossier = organisation.contract()
    form = FlaskForm()
    refusal = None
    if dossier is None and form.validate_on_submit():
        try:
            dossier = dossiers.start(CONTRACTS[OrgKind(organisation.kind)], current_user._get_current_object())
        except Refused as error:
            refusal = error.message
        else:
            return redirect(url_for(".resume", dossier_id=dossier.id))
    return _page(organisation, dossier, form, InviteForm(formdata=None), refusal)


def _page(organisation, dossier, form, invite_form, refusal=None):
    contract = Contract.get(Contract.dossier == dossier.id) if dossier is not None else None
    inviting = organisation.kind == OrgKind.CENTRE and contract is not None and contract.number is not None
    return render_template(
        "public/contract/index.html", organisation=organisation, dossier=dossier, contract=contract, form=form,
        refusal=refusal, name="TACHY" if organisation.kind == OrgKind.COMPANY else "CQC",
        principal_contract=organisation.contract_in_force() if organisation.principal_id else None,
        inviting=inviting, invite_form=invite_form,
        invitations=organisations.invitations_of(organisation) if inviting else [],
        follow_up=wizard.timeline(dossier) if dossier is not None else [],
    )


@bp.route("/etablissements-rattaches", methods=["POST"])
@admins_only
def invite():
    """Invite an approved centre, by its SIRET, to attach to this centre's CQC contract."""
    organisation = current_user.organisation
    form = InviteForm()
    if form.validate_on_submit():
        try:
            invitation = organisations.invite(organisation, current_user._get_current_object(), form.siret.data)
        except Refused as refusal:
            if refusal.field is None:
                flash(refusal.message, "error")
                return redirect(url_for(".index"))
            form.siret.errors.append(refusal.message)
        else:
            flash(f"L'invitation est envoyée à l'adresse de l'agrément du centre ({invitation.sent_to}) : il sera "
                  "rattaché à votre contrat dès la création de son compte.", "success")
            return redirect(url_for(".index") + "#rattachements")
    return _page(organisation, organisation.contract(), FlaskForm(), form)


@bp.route("/<int:dossier_id>/envoyee")
@admins_only
def sent(dossier_id):
    """Say the contract is taken into account: its number follows within 24 hours."""
    dossier, _, _ = wizard.own_dossier(dossier_id)
    if dossier.state == RequestState.BROUILLON:
        return redirect(url_for(".step", dossier_id=dossier.id, step="recapitulatif"))
    name = "TACHY" if dossier.procedure.code == ProcedureCode.CONTRAT_TACHY else "CQC"
    flash(f"Votre contrat {name} a été pris en compte avec succès. Votre numéro de contrat vous sera communiqué "
          "d'ici 24 heures.", "success")
    return redirect(url_for(".index"))
