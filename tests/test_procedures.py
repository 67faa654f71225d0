"""Table-driven tests over the registry of procedures: every lifecycle move, and the holder's actions per state."""
import datetime as dt
import re

import pytest

import itertools

from models import (
    Card, CardState, Contract, Dossier, DossierEvent, Organisation, OrgKind, Procedure, ProcedureCode, RequestState, Role,
    TachographRequest,
)
from services import procedures, transitions
from tests.cqc_files import make_centre, make_member, record_for

CODES = list(procedures.REGISTRY)
STATES = list(RequestState)
LEGAL = [
    (code, event, source, step.target)
    for code in CODES for event, step in procedures.get(code).lifecycle.items() for source in step.sources
]
ILLEGAL = [
    (code, event, state)
    for code in CODES for event, step in procedures.get(code).lifecycle.items() for state in STATES
    if state not in step.sources
]
#: DESIGN §3: what the holder may do on a file in each state, in the order shown.
HOLDER_ACTIONS = {
    RequestState.BROUILLON: ["reprendre", "annuler"],
    RequestState.ENVOYEE: ["afficher"],
    RequestState.EN_INSTRUCTION: ["afficher"],
    RequestState.ATTENTE_COMPLEMENT: ["afficher", "repondre"],
    RequestState.ACCEPTEE: ["afficher"],
    RequestState.REFUSEE: ["afficher"],
    RequestState.ANNULEE: [],
}


SIRETS = itertools.count(1)


def holder_of(code, make_driver):
    """Return an account that submits this procedure: a driver, or an administrator of a company or a centre."""
    if Role.DRIVER in procedures.get(code).submitted_by:
        return make_driver(state="active")
    kind = OrgKind.CENTRE if code == ProcedureCode.CONTRAT_CQC else OrgKind.COMPANY
    organisation = Organisation.create(kind=kind, siret=f"9{next(SIRETS):013d}", name="ÉTABLISSEMENT")
    return make_member(organisation, role=Role.ORG_ADMIN)


def file_of(code, user, state):
    """Create a file of a procedure, with its data row, in a state."""
    declaration = procedures.get(code)
    dossier = transitions.open_dossier(code, user, organisation=user.organisation_id)
    if declaration.data_model is Contract:
        Contract.create(dossier=dossier, number=f"N-{dossier.id}")
    elif declaration.data_model is TachographRequest:
        TachographRequest.create(dossier=dossier, card_count=1)
    elif declaration.data_model.__name__ == "CqcRequest":
        declaration.data_model.create(dossier=dossier, training=record_for(make_centre(), user))
    else:
        driver = user.driver
        card = Card.create(
            user=user, number=f"C{dossier.id}", category="Marchandises", state=CardState.PND, last_name=user.last_name,
            first_name=user.first_name, birth_date=driver.birth_date, birth_place=driver.birth_place,
            licence_number=driver.licence_number, issued_on=dt.date(2024, 1, 1), expires_on=dt.date(2028, 12, 31),
        )
        reason = "pnd" if code == ProcedureCode.CQC_PND else code.removeprefix("CQC_").lower()
        declaration.data_model.create(dossier=dossier, card=card, reason=reason)
    Dossier.update(state=state).where(Dossier.id == dossier.id).execute()
    return Dossier.get_by_id(dossier.id)


def test_every_procedure_of_the_table_but_the_account_analysis_is_declared():
    declared = {ProcedureCode.CQC, ProcedureCode.CQC_PERTE, ProcedureCode.CQC_VOL, ProcedureCode.CQC_QUALITE,
                ProcedureCode.CQC_PND, ProcedureCode.CONTRAT_TACHY, ProcedureCode.CONTRAT_CQC,
                ProcedureCode.TACHY_CONDUCTEUR, ProcedureCode.TACHY_ENTREPRISE}
    assert set(procedures.REGISTRY) == declared
    for code, declaration in procedures.REGISTRY.items():
        assert declaration.code == code and declaration.label and declaration.steps
        assert declaration.steps[-1].name == "recapitulatif"
        assert all(step.form is not None or step.document or step is declaration.steps[-1] for step in declaration.steps)


@pytest.mark.parametrize("code, event, source, target", LEGAL)
def test_every_legal_transition_works_and_writes_the_history(make_driver, make_staff, code, event, source, target):
    dossier = file_of(code, holder_of(code, make_driver), source)
    row = transitions.transition(dossier, event, staff=make_staff(), comment="motif")
    assert Dossier.get_by_id(dossier.id).state == target
    assert (row.from_state, row.to_state, row.event, row.comment) == (source, target, event, "motif")


@pytest.mark.parametrize("code, event, state", ILLEGAL)
def test_every_illegal_transition_is_refused_and_changes_nothing(make_driver, code, event, state):
    dossier = file_of(code, holder_of(code, make_driver), state)
    before = DossierEvent.select().where(DossierEvent.dossier == dossier).count()
    with pytest.raises(transitions.TransitionError):
        transitions.transition(dossier, event)
    assert Dossier.get_by_id(dossier.id).state == state
    assert DossierEvent.select().where(DossierEvent.dossier == dossier).count() == before


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("state", STATES)
def test_the_actions_shown_are_exactly_those_the_lifecycle_allows(client, login_user, make_driver, code, state):
    user = holder_of(code, make_driver)
    dossier = file_of(code, user, state)
    declaration = procedures.of(dossier)
    data = declaration.data_of(dossier)
    extras = declaration.extra_actions(dossier, data)
    assert declaration.holder_actions(dossier, data) == HOLDER_ACTIONS[state] + extras

    login_user(user)
    page = client.get("/mes-demandes/?rubrique=en-cours").get_data(as_text=True)
    entry = page.split(f'id="demande-{dossier.id}"', 1)[1].split("</article>", 1)[0]
    assert re.findall(r'data-action="(\w+)"', entry) == HOLDER_ACTIONS[state] + extras


def test_every_document_declares_its_types_and_the_upload_check_holds_to_them(app):
    from werkzeug.datastructures import FileStorage
    import io

    from services import storage
    from services.errors import UploadRefused
    from tests.cqc_files import PDF

    for declaration in procedures.REGISTRY.values():
        for step in declaration.steps:
            if step.document:
                assert step.accepts and set(step.accepts) <= set(storage.FORMATS)
                assert declaration.accepts(step.document) == step.accepts
    with pytest.raises(UploadRefused) as refusal:
        storage.check_upload(FileStorage(io.BytesIO(PDF), filename="photo.pdf"), storage.IMAGES)
    assert refusal.value.message == "Format non accepté : seuls les fichiers JPEG et PNG sont acceptés."
    assert storage.check_upload(FileStorage(io.BytesIO(PDF), filename="cni.pdf"))[1] == "application/pdf"


@pytest.mark.parametrize("code", CODES)
def test_only_the_roles_a_procedure_names_may_start_it(app, make_driver, code):
    from services import dossiers
    from services.errors import Refused

    submitters = procedures.get(code).submitted_by
    if Role.DRIVER in submitters:
        member = make_member(make_centre(), role=Role.ORG_ADMIN)
    elif Role.ORG_MANAGER in submitters:
        member = make_driver(state="active")
    else:
        member = make_member(make_centre(), role=Role.ORG_MANAGER)
    assert member.role not in submitters
    with pytest.raises(Refused, match="n'est pas ouverte à votre profil"):
        dossiers.start(code, member)
    assert not Dossier.select().join(Procedure).where(Dossier.user == member, Procedure.code == code).exists()
