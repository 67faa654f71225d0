"""Staff log in with a second factor: a code from an authenticator application (enrolled by QR code), each code
accepted once, or a single-use recovery code; production asks it of every staff member."""
import datetime as dt
import html
import re

import pyotp
import pytest

from models import AuditLog, Staff, StaffRole
from models import clock as clock_module
from tests.conftest import TEST_PASSWORD


@pytest.fixture
def app_config(request):
    return {"STAFF_SECOND_FACTOR": True} if "required" in request.node.name else {}


def _enrol(client, member):
    """Enrol from the page, as a person would with their phone; return (secret, recovery codes)."""
    page = client.get("/admin/double-authentification").get_data(as_text=True)
    assert "<svg" in page and "QR code" in page
    secret = re.search(r"<code>([A-Z2-7]{32})</code>", page).group(1)
    done = client.post("/admin/double-authentification", data={"code": pyotp.TOTP(secret).now()})
    codes = re.findall(r"<code>([0-9a-f]{6}-[0-9a-f]{6})</code>", done.get_data(as_text=True))
    return secret, codes


def _password(client, member):
    return client.post("/admin/connexion", data={"email": member.email, "password": TEST_PASSWORD})


def test_an_agent_enrols_and_then_logs_in_with_a_code(app, client, make_staff, login_staff, clock):
    member = make_staff(role=StaffRole.LOCAL_ADMIN)
    login_staff(member)
    secret, codes = _enrol(client, member)
    assert len(codes) == 10
    assert AuditLog.select().where(AuditLog.action == "Double authentification activée").exists()

    browser = app.test_client()
    asked = _password(browser, member)
    assert asked.headers["Location"].endswith("/admin/connexion/code")
    assert browser.get("/admin/").status_code == 302  # the password alone opens nothing
    wrong = html.unescape(browser.post("/admin/connexion/code", data={"code": "000000"}).get_data(as_text=True))
    assert "Ce code n'est pas valide" in wrong and 'aria-invalid="true"' in wrong
    clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(int(clock_now(clock)))
    assert browser.post("/admin/connexion/code", data={"code": code}).status_code == 302
    assert browser.get("/admin/").status_code == 200

    replay = app.test_client()
    _password(replay, member)
    assert "Ce code n'est pas valide" in html.unescape(
        replay.post("/admin/connexion/code", data={"code": code}).get_data(as_text=True))


def clock_now(clock):
    return clock_module.now().replace(tzinfo=dt.timezone.utc).timestamp()


def test_a_recovery_code_opens_the_back_office_once(app, client, make_staff, login_staff):
    member = make_staff(role=StaffRole.LOCAL_ADMIN)
    login_staff(member)
    _, codes = _enrol(client, member)
    for attempt, expected in ((codes[0], 302), (codes[0], 200)):
        browser = app.test_client()
        _password(browser, member)
        assert browser.post("/admin/connexion/code", data={"code": attempt.upper()}).status_code == expected
    assert AuditLog.select().where(AuditLog.action == "Code de secours utilisé").count() == 1


def test_the_code_step_needs_a_password_checked_within_five_minutes(app, client, make_staff, login_staff, clock):
    member = make_staff(role=StaffRole.LOCAL_ADMIN)
    login_staff(member)
    secret, _ = _enrol(client, member)
    browser = app.test_client()
    assert browser.get("/admin/connexion/code").status_code == 302
    _password(browser, member)
    clock.advance(minutes=6)
    late = browser.post("/admin/connexion/code", data={"code": pyotp.TOTP(secret).at(int(clock_now(clock)))})
    assert late.status_code == 302 and late.headers["Location"].endswith("/admin/connexion")
    assert browser.get("/admin/").status_code == 302


def test_wrong_codes_lock_the_account_like_wrong_passwords(app, client, make_staff, login_staff):
    member = make_staff(role=StaffRole.LOCAL_ADMIN)
    login_staff(member)
    _enrol(client, member)
    browser = app.test_client()
    _password(browser, member)
    for _ in range(5):
        browser.post("/admin/connexion/code", data={"code": "123456"})
    assert "Trop de tentatives" in browser.post("/admin/connexion/code", data={"code": "123456"}).get_data(as_text=True)


def test_when_required_a_member_without_an_application_enrols_before_anything_else(app, client, make_staff):
    member = make_staff(role=StaffRole.LOCAL_ADMIN)
    asked = _password(client, member)
    assert asked.headers["Location"].endswith("/admin/double-authentification")
    assert client.get("/admin/").status_code == 302
    secret, codes = _enrol(client, member)
    assert codes and Staff.get_by_id(member.id).totp_secret == secret
    assert client.get("/admin/").status_code == 200


def test_when_required_the_password_alone_never_opens_a_session(app, client, make_staff):
    member = make_staff(role=StaffRole.LOCAL_ADMIN)
    _password(client, member)
    assert client.get("/admin/staff/").status_code == 302
    assert client.get("/admin/connexion/code").status_code == 302  # not enrolled: the code step sends back
