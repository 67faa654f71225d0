"""« Connexion », « Mot de passe oublié », throttling, CSRF, and who may log in where."""
import pytest

from models import OutboxMessage, StaffRole, Throttle
from services import throttle
from tests.conftest import TEST_PASSWORD


def test_an_active_driver_logs_in_and_out(client, make_driver, login_user):
    driver = make_driver(state="active")
    response = login_user(driver)
    assert response.status_code == 302
    home = client.get("/").get_data(as_text=True)
    assert "Bienvenue sur le portail Hub Pro Transport" in home and "Mes notifications" in home
    client.post("/deconnexion")
    assert "Connexion" in client.get("/").get_data(as_text=True)


def test_the_email_is_compared_case_insensitively(client, make_driver):
    make_driver(state="active", email="anne.martin@exemple.fr")
    response = client.post("/connexion", data={"email": "  Anne.Martin@Exemple.FR ", "password": TEST_PASSWORD})
    assert response.status_code == 302


def test_a_wrong_password_gets_the_same_message_as_an_unknown_address(client, make_driver):
    driver = make_driver(state="active")
    wrong = client.post("/connexion", data={"email": driver.email, "password": "Mauvais-mot-2!"}).get_data(as_text=True)
    unknown = client.post("/connexion", data={"email": "personne@exemple.fr", "password": "X"}).get_data(as_text=True)
    assert "Adresse électronique ou mot de passe incorrect." in wrong
    assert "Adresse électronique ou mot de passe incorrect." in unknown


def test_an_account_under_analysis_cannot_log_in(client, make_driver):
    driver = make_driver(state="en_analyse")
    from models import User
    from services import passwords

    User.update(password_hash=passwords.hash_password(TEST_PASSWORD)).where(User.id == driver.id).execute()
    response = client.post("/connexion", data={"email": driver.email, "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert "pas encore activé" in response.get_data(as_text=True)


def test_repeated_failures_lock_the_account_for_a_while(client, make_driver, clock):
    driver = make_driver(state="active")
    for _ in range(5):
        client.post("/connexion", data={"email": driver.email, "password": "Mauvais-mot-2!"})
    locked = client.post("/connexion", data={"email": driver.email, "password": TEST_PASSWORD})
    assert locked.status_code == 200
    assert "Trop de tentatives" in locked.get_data(as_text=True)
    clock.advance(minutes=16)
    assert client.post("/connexion", data={"email": driver.email, "password": TEST_PASSWORD}).status_code == 302
    assert not Throttle.select().where(Throttle.key == f"login:{driver.email}").exists()


def test_failures_past_the_third_slow_the_answer_down(app, client, make_driver, monkeypatch):
    waits = []
    monkeypatch.setattr(throttle.time, "sleep", waits.append)
    app.config["LOGIN_SLOWDOWN_SECONDS"] = 1.0
    driver = make_driver(state="active")
    for _ in range(4):
        client.post("/connexion", data={"email": driver.email, "password": "Mauvais-mot-2!"})
    assert waits == [1.0, 2.0]


def test_forgot_password_answers_the_same_whatever_the_address(client, make_driver):
    driver = make_driver(state="active")
    known = client.post("/mot-de-passe-oublie", data={"email": driver.email}).get_data(as_text=True)
    unknown = client.post("/mot-de-passe-oublie", data={"email": "inconnu@exemple.fr"}).get_data(as_text=True)
    assert known.replace(driver.email, "X") == unknown.replace("inconnu@exemple.fr", "X")
    assert OutboxMessage.select().where(OutboxMessage.recipient == "inconnu@exemple.fr").count() == 0
    reset = OutboxMessage.select().where(OutboxMessage.recipient == driver.email).order_by(OutboxMessage.id.desc()).first()
    assert "Redéfinir mon mot de passe" in reset.body_text


def test_forgot_password_resends_what_a_driver_still_needs(client, make_driver):
    pending = make_driver(state="conforme")
    client.post("/mot-de-passe-oublie", data={"email": pending.email})
    last = OutboxMessage.select().where(OutboxMessage.recipient == pending.email).order_by(OutboxMessage.id.desc()).first()
    assert "Créer mon mot de passe" in last.body_text


@pytest.mark.parametrize("path, data", [
    ("/mot-de-passe-oublie", {"email": "x@exemple.fr"}),
])
def test_forms_that_send_e_mails_are_rate_limited(app, client, path, data):
    app.config["FORM_RATE_LIMIT"] = 3
    codes = [client.post(path, data=data).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_account_creation_is_rate_limited(app, client, sirene_rows):
    app.config["FORM_RATE_LIMIT"] = 1
    from tests.conftest import driver_form

    assert client.post("/creer-un-compte/particulier", data=driver_form(email="a@exemple.fr", email_confirm="a@exemple.fr")).status_code == 200
    assert client.post("/creer-un-compte/particulier", data=driver_form(email="b@exemple.fr", email_confirm="b@exemple.fr")).status_code == 429


@pytest.fixture
def app_config(request):
    return {"WTF_CSRF_ENABLED": True} if "csrf" in request.node.name else {}


def test_csrf_a_post_without_token_is_refused(client, make_driver, make_staff):
    driver = make_driver(state="active")
    assert client.post("/connexion", data={"email": driver.email, "password": TEST_PASSWORD}).status_code == 400
    member = make_staff(role=StaffRole.LOCAL_ADMIN)
    assert client.post("/admin/connexion", data={"email": member.email, "password": TEST_PASSWORD}).status_code == 400
    assert client.post("/creer-un-compte/particulier", data={"email": "x@exemple.fr"}).status_code == 400


def test_csrf_a_post_with_the_page_token_is_accepted(client, make_driver):
    import re

    driver = make_driver(state="active")
    page = client.get("/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/connexion", data={"email": driver.email, "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_staff_cannot_use_the_public_login(client, make_staff):
    member = make_staff()
    response = client.post("/connexion", data={"email": member.email, "password": TEST_PASSWORD})
    assert "Adresse électronique ou mot de passe incorrect." in response.get_data(as_text=True)


def test_a_public_account_cannot_use_the_staff_login(client, make_driver):
    driver = make_driver(state="active")
    response = client.post("/admin/connexion", data={"email": driver.email, "password": TEST_PASSWORD})
    assert response.status_code == 200
    assert "incorrect" in response.get_data(as_text=True)


def test_next_never_leaves_the_site(client, make_driver):
    driver = make_driver(state="active")
    response = client.post("/connexion?next=https://evil.example/", data={"email": driver.email, "password": TEST_PASSWORD})
    assert response.headers["Location"] == "/"
