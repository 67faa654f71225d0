"""The CQC request and card lifecycles, the eligibility rule, card validity and the follow-up sweeps."""
import datetime as dt

import pytest

from models import (
    Card, CardEvent, CardState, Certificate, CqcRequest, Dossier, DossierEvent, Organisation, RequestState, Training,
)
from models import clock as clock_service, deadlines
from models import ProcedureCode
from services import cards, dossiers, followups, transitions
from services.errors import Refused

REQUEST_LEGAL = [(e, s, step.target) for e, step in transitions.REQUEST.items() for s in step.sources]
REQUEST_ILLEGAL = [(e, s) for e, step in transitions.REQUEST.items() for s in RequestState if s not in step.sources]
CARD_LEGAL = [(e, s, step.target) for e, step in transitions.CARD.items() for s in step.sources]
CARD_ILLEGAL = [(e, s) for e, step in transitions.CARD.items() for s in CardState if s not in step.sources]


@pytest.fixture
def centre(app):
    return Organisation.create(kind="centre", siret="47728084603753", name="FORMATRANS")


@pytest.fixture
def qualified(make_driver, centre):
    """An active driver with an FIMO training and its valid certificate (rows made directly)."""

    def make(kind="FIMO", category="Marchandises", end=None, **identity):
        driver = make_driver(state="active", **identity)
        end = end or clock_service.today() - dt.timedelta(days=3)
        training = Training.create(
            centre=centre, kind=kind, category=category, start_date=end - dt.timedelta(days=30), end_date=end,
            last_name=driver.last_name, first_name=driver.first_name, birth_date=driver.driver.birth_date,
            licence_number=driver.driver.licence_number, user=driver,
        )
        Certificate.create(training=training, user=driver, issued_on=end, expires_on=deadlines.add_months(end, 4))
        return driver, training

    return make


def _request_in(qualified, state):
    driver, _ = qualified()
    dossier = dossiers.start(ProcedureCode.CQC, driver)
    Dossier.update(state=state).where(Dossier.id == dossier.id).execute()
    return Dossier.get_by_id(dossier.id)


@pytest.mark.parametrize("event, source, target", REQUEST_LEGAL)
def test_every_legal_request_transition_works(qualified, make_staff, event, source, target):
    dossier = _request_in(qualified, source)
    if event == "ask_info":
        from models import Anomaly

        Anomaly.create(dossier=dossier, field="delivery_city", reason="Commune inconnue")
    row = transitions.transition(dossier, event, staff=make_staff(), comment="ok")
    assert Dossier.get_by_id(dossier.id).state == target
    assert (row.from_state, row.to_state) == (source, target)


@pytest.mark.parametrize("event, state", REQUEST_ILLEGAL)
def test_every_illegal_request_transition_is_refused(qualified, event, state):
    dossier = _request_in(qualified, state)
    before = DossierEvent.select().count()
    with pytest.raises(transitions.TransitionError):
        transitions.transition(dossier, event)
    assert Dossier.get_by_id(dossier.id).state == state and DossierEvent.select().count() == before


def _card_in(qualified, state):
    driver, _ = qualified()
    dossier = _request_in(qualified, RequestState.EN_INSTRUCTION)
    card = cards.order(dossier, None)
    Card.update(state=state).where(Card.id == card.id).execute()
    return Card.get_by_id(card.id)


@pytest.mark.parametrize("event, source, target", CARD_LEGAL)
def test_every_legal_card_transition_works(qualified, make_staff, event, source, target):
    card = _card_in(qualified, source)
    row = transitions.transition(card, event, staff=make_staff())
    assert Card.get_by_id(card.id).state == target
    assert isinstance(row, CardEvent) and (row.from_state, row.to_state) == (source, target)


@pytest.mark.parametrize("event, state", CARD_ILLEGAL)
def test_every_illegal_card_transition_is_refused(qualified, event, state):
    card = _card_in(qualified, state)
    with pytest.raises(transitions.TransitionError):
        transitions.transition(card, event)
    assert Card.get_by_id(card.id).state == state


# --- Eligibility ---------------------------------------------------------------------------------


def test_no_training_no_request(make_driver):
    with pytest.raises(Refused) as refusal:
        dossiers.start(ProcedureCode.CQC, make_driver(state="active"))
    assert "Aucune formation" in refusal.value.message


def test_a_training_serves_one_live_request(qualified):
    driver, training = qualified()
    dossier = dossiers.start(ProcedureCode.CQC, driver)
    assert dossiers.start(ProcedureCode.CQC, driver).id == dossier.id  # « Reprendre » the same draft
    Dossier.update(state=RequestState.ENVOYEE).where(Dossier.id == dossier.id).execute()
    with pytest.raises(Refused) as refusal:
        dossiers.start(ProcedureCode.CQC, driver)
    assert "déjà l'objet d'une demande" in refusal.value.message
    Dossier.update(state=RequestState.REFUSEE).where(Dossier.id == dossier.id).execute()
    assert dossiers.start(ProcedureCode.CQC, driver).cqc.get().training_id == training.id


def test_a_cancelled_draft_frees_its_training_and_erases_its_data(qualified):
    driver, training = qualified()
    dossier = dossiers.start(ProcedureCode.CQC, driver)
    dossiers.cancel(dossier, driver)
    request = CqcRequest.get(CqcRequest.dossier == dossier)
    assert request.delivery_address == "" and request.identity_confirmed is False
    assert dossiers.start(ProcedureCode.CQC, driver).id != dossier.id


def test_after_four_months_the_certificate_no_longer_allows_a_request(qualified, clock):
    driver, _ = qualified()
    clock.advance(days=130)
    with pytest.raises(Refused) as refusal:
        dossiers.start(ProcedureCode.CQC, driver)
    assert "4 mois" in refusal.value.message


def test_an_incomplete_request_cannot_be_sent(qualified):
    driver, _ = qualified()
    dossier = dossiers.start(ProcedureCode.CQC, driver)
    with pytest.raises(Refused) as refusal:
        dossiers.validate(dossier, driver)
    assert "Ma photo" in refusal.value.message and "Vérification de mon identité" in refusal.value.message


# --- Cards ---------------------------------------------------------------------------------------


def test_a_card_is_valid_five_years_and_reproduces_the_holder(qualified, make_staff):
    driver, _ = qualified(last_name="Lefèvre")
    dossier = _request_in(qualified, RequestState.EN_INSTRUCTION)
    dossier = dossiers.start(ProcedureCode.CQC, driver)
    Dossier.update(state=RequestState.EN_INSTRUCTION).where(Dossier.id == dossier.id).execute()
    card = dossiers.accept(Dossier.get_by_id(dossier.id), make_staff(procedures=["CQC"]))
    today = clock_service.today()
    assert card.state == CardState.EN_FABRICATION and card.issued_on == today
    assert card.expires_on == deadlines.add_years(today, 5) - dt.timedelta(days=1)
    assert card.last_name == "LEFÈVRE" and card.licence_number == driver.driver.licence_number
    assert len(card.number) == 10 and card.number.isdigit()


def test_after_an_early_fco_the_new_five_years_start_when_the_old_card_ends(qualified, make_staff, centre):
    driver, _ = qualified()
    old = Card.create(
        user=driver, number="2200000001", category="Marchandises", state=CardState.ACTIVEE, last_name="X", first_name="Y",
        birth_date=dt.date(1990, 1, 1), birth_place="Lille", licence_number="13AA00001",
        issued_on=dt.date(2022, 2, 4), expires_on=clock_service.today() + dt.timedelta(days=200),
    )
    fco = Training.create(
        centre=centre, kind="FCO", category="Marchandises", start_date=clock_service.today() - dt.timedelta(days=10),
        end_date=clock_service.today(), last_name="X", first_name="Y", birth_date=driver.driver.birth_date,
        licence_number=driver.driver.licence_number, user=driver,
    )
    expiry = cards.validity(driver, "Marchandises", fco.kind, clock_service.today())
    assert expiry == deadlines.add_years(old.expires_on + dt.timedelta(days=1), 5) - dt.timedelta(days=1)
    other_category = cards.validity(driver, "Voyageurs", fco.kind, clock_service.today())
    assert other_category == deadlines.add_years(clock_service.today(), 5) - dt.timedelta(days=1)


def test_pnd_solution_1_sends_the_card_again(qualified):
    card = _card_in(qualified, CardState.PND)
    cards.confirm_address(card, card.user)
    assert Card.get_by_id(card.id).state == CardState.EXPEDIEE
    assert card.history.order_by(CardEvent.id.desc()).first().event == "redispatch"


# --- Sweeps ---------------------------------------------------------------------------------------


def test_certificates_are_warned_once_then_marked_expired(runner, qualified, clock):
    from tests.conftest import last_email

    driver, training = qualified()
    assert "'warned': 0" in runner.invoke(args=["jobs", "run-once", "certificates"]).output
    clock.advance(days=110)
    assert "'warned': 1" in runner.invoke(args=["jobs", "run-once", "certificates"]).output
    assert "expire le" in last_email(driver.email).body_text
    assert "'warned': 0" in runner.invoke(args=["jobs", "run-once", "certificates"]).output
    clock.advance(days=20)
    assert "'expired': 1" in runner.invoke(args=["jobs", "run-once", "certificates"]).output
    assert Certificate.get().expired_at is not None


def test_no_warning_once_the_request_is_sent(runner, qualified, clock):
    driver, _ = qualified()
    dossier = dossiers.start(ProcedureCode.CQC, driver)
    Dossier.update(state=RequestState.ENVOYEE).where(Dossier.id == dossier.id).execute()
    clock.advance(days=110)
    assert "'warned': 0" in runner.invoke(args=["jobs", "run-once", "certificates"]).output


def test_unanswered_information_requests_are_recalled_weekly(qualified, make_staff, clock):
    dossier = _request_in(qualified, RequestState.EN_INSTRUCTION)
    dossiers.ask_info(dossier, make_staff(procedures=["CQC"]), {"delivery_city": "Commune inconnue"})
    assert followups.remind_unanswered() == 0
    clock.advance(days=8)
    assert followups.remind_unanswered() == 1
    assert followups.remind_unanswered() == 0
    clock.advance(days=8)
    assert followups.remind_unanswered() == 1


def test_abandoned_drafts_are_announced_then_erased(qualified, clock):
    driver, _ = qualified()
    dossier = dossiers.start(ProcedureCode.CQC, driver)
    clock.advance(days=61)
    assert followups.sweep_drafts() == {"warned": 1, "erased": 0}
    assert followups.sweep_drafts() == {"warned": 0, "erased": 0}
    clock.advance(days=16)
    assert followups.sweep_drafts() == {"warned": 0, "erased": 1}
    assert Dossier.get_by_id(dossier.id).state == RequestState.ANNULEE
