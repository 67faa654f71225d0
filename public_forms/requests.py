"""« Mes demandes »: make a request, follow every request, and the CQC request's own pages."""
from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from models import DECLARED_MISSING, CardState, Dossier, ProcedureCode, RequestState, Role
from public_forms import Audience, account_required, menu_page, wizard
from public_forms.paging import listed
from services import dossiers, procedures
from services.errors import Refused

bp = Blueprint("requests", __name__, url_prefix="/mes-demandes")
wizard.install(bp)

#: The two rubriques of « Mes demandes », by their URL word.
RUBRIQUES = {"faire": "Faire une demande", "en-cours": "Mes demandes en cours"}


def in_progress(user):
    """Return (request, last status) of the requests still under way (home page « Suivi de mes demandes »)."""
    dossiers = Dossier.under_way_for(user)
    loaded = wizard.load(dossiers, details=False)
    items = []
    for dossier in dossiers:
        if dossier.state == RequestState.ACCEPTEE:
            card_state = loaded.card_states.get(dossier.id)
            # Done once its card is activated (or declared lost or stolen: its replacement is followed); a paid
            # re-dispatch has no card of its own (the card's own request follows it).
            if card_state is None or card_state in (CardState.ACTIVEE, CardState.REMPLACEE, *DECLARED_MISSING):
                continue
        items.append((dossier, wizard.timeline(dossier, loaded)[-1]))
    return items


def follow_ups(dossiers):
    """Return what « Mes demandes en cours » shows of each file: its statuses, the holder's actions, what to correct."""
    loaded = wizard.load(dossiers)
    items = []
    for dossier in dossiers:
        declaration = procedures.of(dossier)
        data = loaded.data[dossier.id]
        items.append({
            "dossier": dossier, "declaration": declaration, "timeline": wizard.timeline(dossier, loaded),
            "actions": declaration.holder_actions(dossier, data),
            "resume_url": wizard.resume_url(dossier, declaration, data) if dossier.state == RequestState.BROUILLON else None,
            "anomalies": loaded.anomalies.get(dossier.id, []) if dossier.state == RequestState.ATTENTE_COMPLEMENT else [],
        })
    return items


@bp.route("/")
@menu_page("requests.index")
def index():
    """Show « Faire une demande » and « Mes demandes en cours » (a page of requests, each with its timeline and actions)."""
    user = current_user._get_current_object()
    page, dossiers_listed = listed(lambda limit, offset: Dossier.listed_for(user, limit, offset),
                                   lambda: Dossier.count_for(user))
    rubrique = request.args.get("rubrique")
    if rubrique not in RUBRIQUES:
        rubrique = "en-cours" if page.total else "faire"
    items = follow_ups(dossiers_listed) if rubrique == "en-cours" else []
    organisation = current_user.organisation
    return render_template(
        "public/requests/index.html", rubrique=rubrique, rubriques=RUBRIQUES, items=items, page=page,
        is_driver=current_user.role == Role.DRIVER, organisation=organisation,
        contract=organisation.contract_in_force() if organisation else None,
    )


@bp.route("/cqc", methods=["GET", "POST"])
@account_required(Audience.DRIVER)
def cqc():
    """Show the CQC card's expected documents and « Commencer »; starting is refused, with the reason, when not eligible."""
    form = FlaskForm()
    refusal = None
    if form.validate_on_submit():
        try:
            dossier = dossiers.start(ProcedureCode.CQC, current_user._get_current_object())
        except Refused as error:
            refusal = error.message
        else:
            return redirect(url_for(".step", dossier_id=dossier.id, step=dossiers.data_of(dossier).step))
    return render_template("public/requests/cqc.html", form=form, refusal=refusal,
                           documents=procedures.get(ProcedureCode.CQC).documents)


@bp.route("/<int:dossier_id>/envoyee")
@account_required(Audience.DRIVER)
def sent(dossier_id):
    """Say the request is sent for processing."""
    dossier, _, _ = wizard.own_dossier(dossier_id)
    if dossier.state == RequestState.BROUILLON:
        return redirect(url_for(".step", dossier_id=dossier.id, step="recapitulatif"))
    return render_template("public/requests/sent.html", dossier=dossier)
