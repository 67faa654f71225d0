"""Guide 003: the local administrator, agents with a 48 h activation link, habilitations, back-office access."""
import pytest

from models import AuditLog, Procedure, Staff, StaffRole, Subscription
from tests.conftest import TEST_PASSWORD, last_email, outbox_links, path_of


@pytest.fixture
def local_admin(make_staff, login_staff):
    admin = make_staff(role=StaffRole.LOCAL_ADMIN)
    login_staff(admin)
    return admin


def _procedure_ids(*codes):
    return [str(Procedure.by_code(code).id) for code in codes]


def test_create_staff_command_creates_the_first_local_admin(runner):
    result = runner.invoke(args=["create-staff", "Chef@IngRoupe.fr", "--role", "local-admin", "--first-name", "Claire"])
    assert result.exit_code == 0, result.output
    member = Staff.get(Staff.email == "chef@ingroupe.fr")
    assert member.role == StaffRole.LOCAL_ADMIN and member.password_hash is None
    assert "Activer mon compte" in last_email("chef@ingroupe.fr").body_text


def test_a_local_admin_creates_an_agent_who_activates_within_48_hours(app, client, local_admin, clock):
    response = client.post("/admin/staff/new/", data={
        "email": "nouvel.agent@ingroupe.fr", "first_name": "Karim", "last_name": "Benali", "role": "agent",
        "procedures": _procedure_ids("COMPTE_PARTICULIER", "CQC"), "active": "y",
    })
    assert response.status_code == 302
    agent = Staff.get(Staff.email == "nouvel.agent@ingroupe.fr")
    assert agent.procedure_codes() == {"COMPTE_PARTICULIER", "CQC"}
    mail = last_email(agent.email)
    assert "48 heures" in mail.body_text
    link = path_of(outbox_links(mail)[0])
    clock.advance(hours=47)
    other = app.test_client()
    assert "Cliquer ici pour continuer" in other.get(link).get_data(as_text=True)
    done = other.post(link + "/saisie", data={"password": TEST_PASSWORD, "confirm": TEST_PASSWORD})
    assert "/admin/connexion" in done.get_data(as_text=True)
    assert other.post("/admin/connexion", data={"email": agent.email, "password": TEST_PASSWORD}).status_code == 302
    assert "Comptes à analyser" in other.get("/admin/").get_data(as_text=True)


def test_an_expired_activation_leads_to_forgot_password(app, client, local_admin, clock):
    client.post("/admin/staff/new/", data={"email": "tard@ingroupe.fr", "first_name": "A", "last_name": "B",
                                            "role": "agent", "active": "y"})
    link = path_of(outbox_links(last_email("tard@ingroupe.fr"))[0])
    clock.advance(hours=49)
    page = app.test_client().get(link)
    assert page.status_code == 410 and "Mot de passe oublié" in page.get_data(as_text=True)
    app.test_client().post("/mot-de-passe-oublie", data={"email": "tard@ingroupe.fr"})
    fresh = path_of(outbox_links(last_email("tard@ingroupe.fr"))[0])
    assert fresh != link and app.test_client().get(fresh).status_code == 200


def test_the_local_admin_can_resend_an_activation_link(client, local_admin, make_staff):
    member = Staff.create(email="attente@ingroupe.fr", role=StaffRole.AGENT, first_name="A", last_name="B")
    assert "Renvoyer le lien" in client.get("/admin/staff/").get_data(as_text=True)
    client.post(f"/admin/staff/renvoyer/{member.id}")
    assert "Activer mon compte" in last_email("attente@ingroupe.fr").body_text


def test_habilitations_are_edited_per_procedure(client, local_admin, make_staff):
    agent = make_staff(procedures=["COMPTE_PARTICULIER"])
    client.post(f"/admin/staff/edit/?id={agent.id}", data={
        "first_name": agent.first_name, "last_name": agent.last_name, "active": "y",
        "procedures": _procedure_ids("CQC", "CQC_PERTE"),
    })
    assert Staff.get_by_id(agent.id).procedure_codes() == {"CQC", "CQC_PERTE"}
    assert AuditLog.select().where(AuditLog.action == "Habilitations modifiées").exists()


def test_a_deactivated_agent_loses_access(client, app, local_admin, make_staff, login_staff):
    agent = make_staff(procedures=["COMPTE_PARTICULIER"])
    client.post(f"/admin/staff/edit/?id={agent.id}", data={"first_name": "A", "last_name": "B", "procedures": []})
    other = app.test_client()
    response = other.post("/admin/connexion", data={"email": agent.email, "password": TEST_PASSWORD})
    assert response.status_code == 200 and "incorrect" in response.get_data(as_text=True)


def test_an_address_already_used_cannot_be_given_to_an_agent(client, local_admin, make_driver):
    make_driver(email="deja@exemple.fr")
    page = client.post("/admin/staff/new/", data={"email": "deja@exemple.fr", "first_name": "A", "last_name": "B",
                                                  "role": "agent", "active": "y"}).get_data(as_text=True)
    assert "déjà associée" in page
    assert not Staff.select().where(Staff.email == "deja@exemple.fr").exists()


@pytest.mark.parametrize("path", ["/admin/staff/", "/admin/subscriptions/", "/admin/outbox/", "/admin/audit/"])
def test_agents_cannot_reach_the_local_admin_areas(client, make_staff, login_staff, path):
    login_staff(make_staff(procedures=["COMPTE_PARTICULIER"]))
    assert client.get(path).status_code == 403


@pytest.mark.parametrize("path", ["/admin/", "/admin/account_queue/", "/admin/staff/", "/admin/approvals/"])
def test_a_public_account_is_refused_in_the_back_office(client, make_driver, login_user, path):
    login_user(make_driver(state="active"))
    assert client.get(path).status_code == 403


def test_anonymous_visitors_are_sent_to_the_staff_login(client):
    response = client.get("/admin/account_queue/")
    assert response.status_code == 302 and "/admin/connexion" in response.headers["Location"]


def test_subscriptions_require_an_access_modality_and_tell_of_new_files(client, local_admin, make_driver, runner):
    procedure = Procedure.by_code("COMPTE_PARTICULIER")
    page = client.post("/admin/subscriptions/new/", data={
        "procedure": procedure.id, "access_modality": "", "start_date": "2023-01-01",
        "notification_email": "instruction@ingroupe.fr"}).get_data(as_text=True)
    assert "sélection obligatoire" in page
    client.post("/admin/subscriptions/new/", data={
        "procedure": procedure.id, "access_modality": "portail", "start_date": "2023-01-01",
        "notification_email": "instruction@ingroupe.fr"})
    assert Subscription.select().count() == 1
    make_driver()
    result = runner.invoke(args=["jobs", "run-once", "new_files"])
    assert "'told': 1" in result.output
    assert "Nouveau télédossier" in last_email("instruction@ingroupe.fr").subject
    assert "'told': 0" in runner.invoke(args=["jobs", "run-once", "new_files"]).output


def test_the_audit_log_says_who_did_what(client, local_admin, make_driver):

    make_driver()
    client.post("/admin/gestion-des-teledossiers", data={"enable": "1"})
    page = client.get("/admin/audit/").get_data(as_text=True)
    assert "Gestion des télédossiers" in page and local_admin.email in [a.target for a in AuditLog.select()]
