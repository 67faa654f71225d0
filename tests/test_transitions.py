"""The lifecycle tables drive the tests: every legal move works, every illegal one is refused."""
import threading

import pytest

from models import AccountState, Dossier, DossierEvent, db
from services import transitions

STATES = list(AccountState)
LEGAL = [(event, source, step.target) for event, step in transitions.ACCOUNT.items() for source in step.sources]
ILLEGAL = [(event, state) for event, step in transitions.ACCOUNT.items() for state in STATES if state not in step.sources]


def _account_in(make_driver, state):
    user = make_driver()
    dossier = Dossier.account_of(user)
    Dossier.update(state=state).where(Dossier.id == dossier.id).execute()
    return Dossier.get_by_id(dossier.id)


@pytest.mark.parametrize("event, source, target", LEGAL)
def test_every_legal_transition_works_and_writes_the_history(make_driver, make_staff, event, source, target):
    dossier = _account_in(make_driver, source)
    if event == "reject":
        from models import Anomaly

        Anomaly.create(dossier=dossier, field="city", reason="Illisible")
    row = transitions.transition(dossier, event, staff=make_staff(), comment="motif")
    assert Dossier.get_by_id(dossier.id).state == target
    assert (row.from_state, row.to_state, row.comment, row.event) == (source, target, "motif", event)
    assert row.at is not None and row.staff_id is not None


@pytest.mark.parametrize("event, state", ILLEGAL)
def test_every_illegal_transition_is_refused_and_changes_nothing(make_driver, event, state):
    dossier = _account_in(make_driver, state)
    before = DossierEvent.select().count()
    with pytest.raises(transitions.TransitionError) as error:
        transitions.transition(dossier, event)
    assert "Impossible" in str(error.value)
    assert Dossier.get_by_id(dossier.id).state == state
    assert DossierEvent.select().count() == before


def test_an_unknown_event_is_refused(make_driver):
    with pytest.raises(transitions.TransitionError):
        transitions.transition(Dossier.account_of(make_driver()), "teleport")


def test_a_stale_copy_cannot_move_a_file_another_staff_member_moved(make_driver, make_staff):
    user = make_driver()
    first = Dossier.account_of(user)
    second = Dossier.get_by_id(first.id)  # a second agent's page, loaded at the same time
    transitions.transition(first, "accept", staff=make_staff())
    with pytest.raises(transitions.TransitionError):
        transitions.transition(second, "accept", staff=make_staff())
    assert DossierEvent.select().where(DossierEvent.event == "accept").count() == 1


def test_two_staff_accepting_at_once_leave_one_transition(app, make_driver, make_staff):
    dossier_id = Dossier.account_of(make_driver()).id
    agents = [make_staff(procedures=["COMPTE_PARTICULIER"]) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes = []

    def accept(agent):
        with app.app_context():
            db.connect(reuse_if_open=True)
            try:
                dossier = Dossier.get_by_id(dossier_id)
                barrier.wait()
                transitions.transition(dossier, "accept", staff=agent)
                outcomes.append("ok")
            except transitions.TransitionError:
                outcomes.append("refused")
            finally:
                db.close()

    db.close()  # let the threads see committed rows with their own connections
    threads = [threading.Thread(target=accept, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.connect(reuse_if_open=True)
    assert sorted(outcomes) == ["ok", "refused"]
    assert DossierEvent.select().where(DossierEvent.event == "accept").count() == 1
    assert Dossier.get_by_id(dossier_id).state == AccountState.CONFORME
