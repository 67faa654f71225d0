"""Sessions end: on logout (every copy of the cookie), on a new password, on deletion or deactivation; staff
sessions expire when idle and after a working day; cookies are HttpOnly, SameSite=Lax, Secure over HTTPS."""
import pytest

from models import OrgKind, Organisation, Role, Staff, StaffRole, TokenPurpose, User
from services import members, tokens
from tests.conftest import TEST_PASSWORD
from tests.cqc_files import make_member


@pytest.fixture
def app_config(request):
    if "expire" in request.node.name:
        return {"STAFF_IDLE_MINUTES": 30, "STAFF_SESSION_HOURS": 10}
    if "https" in request.node.name:
        return {"PUBLIC_BASE_URL": "https://hubpro.exemple.fr"}
    return {}


def _cookie(client):
    return client.get_cookie("session").value


def _copy_of(app, cookie):
    """A second browser holding a copy of a captured session cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def test_a_driver_cookie_captured_before_logout_no_longer_opens_the_account(app, client, make_driver, login_user):
    driver = make_driver(state="active")
    login_user(driver)
    captured = _cookie(client)
    assert _copy_of(app, captured).get("/mon-compte").status_code == 200
    client.post("/deconnexion")
    stolen = _copy_of(app, captured).get("/mon-compte")
    assert stolen.status_code == 302 and "/connexion" in stolen.headers["Location"]


def test_a_staff_cookie_captured_before_logout_no_longer_opens_the_back_office(app, client, make_staff, login_staff):
    member = make_staff(role=StaffRole.LOCAL_ADMIN)
    login_staff(member)
    captured = _cookie(client)
    assert _copy_of(app, captured).get("/admin/").status_code == 200
    client.post("/admin/deconnexion")
    stolen = _copy_of(app, captured).get("/admin/")
    assert stolen.status_code == 302 and "/admin/connexion" in stolen.headers["Location"]


def test_a_new_password_ends_every_session_of_the_account(app, client, make_driver, login_user):
    driver = make_driver(state="active")
    login_user(driver)
    elsewhere = _copy_of(app, _cookie(client))
    raw = tokens.issue(TokenPurpose.RESET_PASSWORD, user=driver)
    app.test_client().post(f"/mot-de-passe/{raw}/saisie", data={"password": "Autre-Mot-De-Passe-7!", "confirm": "Autre-Mot-De-Passe-7!"})
    assert elsewhere.get("/mon-compte").status_code == 302


def test_a_deleted_manager_and_a_deactivated_agent_lose_their_open_sessions(app, client, make_staff, login_user):
    company = Organisation.create(kind=OrgKind.COMPANY, siret="52525252400059", name="EXPRESS ROUTE SUD")
    boss = make_member(company, Role.ORG_ADMIN, email="chef@express-route-sud.fr")
    manager = make_member(company, Role.ORG_MANAGER, email="gestion@express-route-sud.fr")
    login_user(manager)
    assert client.get("/mes-demandes/").status_code == 200
    members.remove(User.get_by_id(manager.id), boss)
    assert client.get("/mes-demandes/").status_code == 302

    agent = make_staff()
    other = app.test_client()
    other.post("/admin/connexion", data={"email": agent.email, "password": TEST_PASSWORD})
    assert other.get("/admin/").status_code == 200
    Staff.update(active=False).where(Staff.id == agent.id).execute()
    assert other.get("/admin/").status_code == 302


def test_staff_sessions_expire_after_30_idle_minutes(client, make_staff, login_staff, clock):
    login_staff(make_staff(role=StaffRole.LOCAL_ADMIN))
    clock.advance(minutes=29)
    assert client.get("/admin/").status_code == 200
    clock.advance(minutes=29)
    assert client.get("/admin/").status_code == 200
    clock.advance(minutes=31)
    ended = client.get("/admin/")
    assert ended.status_code == 302 and "/admin/connexion" in ended.headers["Location"]
    assert "Votre session du back-office a pris fin" in client.get(ended.headers["Location"]).get_data(as_text=True)


def test_staff_sessions_expire_after_10_hours_even_when_busy(client, make_staff, login_staff, clock):
    login_staff(make_staff(role=StaffRole.LOCAL_ADMIN))
    for _ in range(20):
        clock.advance(minutes=29)
        assert client.get("/admin/").status_code == 200
    clock.advance(minutes=29)
    assert client.get("/admin/").status_code == 302


def test_cookies_are_httponly_and_samesite_lax(client, make_driver, login_user):
    response = login_user(make_driver(state="active"))
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_cookies_are_secure_over_https(client, make_driver, login_user):
    response = login_user(make_driver(state="active"))
    assert "Secure" in response.headers["Set-Cookie"]
