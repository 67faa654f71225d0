"""The scheduled sweeps: idempotent, runnable once by hand, logging what they changed."""
from models import Dossier, StaffRole, Token, TokenPurpose
from services import tokens, transitions
from tests.conftest import last_email


def test_jobs_list_and_run_once(runner):
    listing = runner.invoke(args=["jobs", "list"]).output
    for name in ("outbox", "new_files", "analysis_alerts", "links"):
        assert name in listing
    assert runner.invoke(args=["jobs", "run-once", "nope"]).exit_code != 0
    assert "outbox" in runner.invoke(args=["jobs", "run-once", "outbox"]).output


def test_staff_are_alerted_once_about_an_analysis_older_than_24_hours(runner, make_driver, make_staff, clock):
    make_staff(role=StaffRole.LOCAL_ADMIN, email="chef@ingroupe.fr")
    make_staff(procedures=["COMPTE_PARTICULIER"], email="analyste@ingroupe.fr")
    make_staff(procedures=["CQC"], email="autre@ingroupe.fr")
    driver = make_driver()
    assert "'alerted': 0" in runner.invoke(args=["jobs", "run-once", "analysis_alerts"]).output
    clock.advance(hours=25)
    assert "'alerted': 1" in runner.invoke(args=["jobs", "run-once", "analysis_alerts"]).output
    alert = last_email("analyste@ingroupe.fr")
    assert "plus de 24 heures" in alert.body_text and driver.last_name.upper() in alert.body_text
    assert last_email("chef@ingroupe.fr") is not None and last_email("autre@ingroupe.fr") is None
    assert "'alerted': 0" in runner.invoke(args=["jobs", "run-once", "analysis_alerts"]).output


def test_a_resubmitted_account_is_alerted_again_when_late_again(runner, make_driver, make_staff, clock):
    from models import Anomaly

    make_staff(procedures=["COMPTE_PARTICULIER"])
    dossier = Dossier.account_of(make_driver())
    clock.advance(hours=25)
    runner.invoke(args=["jobs", "run-once", "analysis_alerts"])
    Anomaly.create(dossier=dossier, field="city", reason="x")
    transitions.transition(dossier, "reject")
    transitions.transition(Dossier.get_by_id(dossier.id), "resubmit")
    assert Dossier.get_by_id(dossier.id).overdue_alerted_at is None
    clock.advance(hours=25)
    assert "'alerted': 1" in runner.invoke(args=["jobs", "run-once", "analysis_alerts"]).output


def test_old_links_are_purged_but_recent_expired_ones_still_say_expired(runner, make_driver, clock):
    user = make_driver()
    tokens.issue(TokenPurpose.CREATE_PASSWORD, user=user)
    clock.advance(days=3)
    assert "'purged': 0" in runner.invoke(args=["jobs", "run-once", "links"]).output
    clock.advance(days=30)
    assert "'purged': 1" in runner.invoke(args=["jobs", "run-once", "links"]).output
    assert Token.select().count() == 0


def test_init_db_and_demo_data_are_idempotent(runner):
    assert runner.invoke(args=["init-db"]).exit_code == 0
    first = runner.invoke(args=["demo-data"])
    assert first.exit_code == 0 and "créés" in first.output
    assert "déjà présentes" in runner.invoke(args=["demo-data"]).output
    assert runner.invoke(args=["init-db"]).exit_code == 0


def test_the_demo_accounts_can_log_in(app, runner):
    from services.demo import ACCOUNTS

    runner.invoke(args=["demo-data"])
    client = app.test_client()
    for who, email, password in ACCOUNTS:
        path = "/admin/connexion" if "back-office" in who else "/connexion"
        assert client.post(path, data={"email": email, "password": password}).status_code == 302, who
        client.post("/deconnexion")
        client.post("/admin/deconnexion")


def test_subscriptions_hear_of_submitted_files_only_never_of_a_draft(runner, make_driver):
    """Issue 12: a draft, then cancelled, was announced as « Nouveau télédossier »; it waits until it is sent."""
    import datetime as dt

    from models import OutboxMessage, Procedure, ProcedureCode, Subscription
    from services import dossiers
    from tests.cqc_files import make_centre, record_for, sent_request

    Subscription.create(procedure=Procedure.by_code(ProcedureCode.CQC), access_modality="portail",
                        start_date=dt.date(2023, 1, 1), notification_email="cqc@ingroupe.fr")
    centre = make_centre()
    drafter, sender = make_driver(state="active"), make_driver(state="active")
    for user in (drafter, sender):
        record_for(centre, user)
    draft = dossiers.start(ProcedureCode.CQC, drafter)

    def announced():
        runner.invoke(args=["jobs", "run-once", "new_files"])
        return [m.body_text for m in OutboxMessage.select().where(OutboxMessage.recipient == "cqc@ingroupe.fr")]

    assert announced() == []
    dossiers.cancel(draft, drafter)
    assert announced() == []
    assert Dossier.get_by_id(draft.id).subscription_notified_at is None
    sent = sent_request(sender)
    [message] = announced()
    assert f"dossier n° {sent.id}" in message and f"dossier n° {draft.id}" not in message
    assert announced() == [message]
