"""Brute force: a lock per account with an unlock e-mail, limits per address (Flask-Limiter, Redis in production)
behind trusted proxies, and a login that takes as long whether the address exists or not."""
import uuid

import pytest
from werkzeug import security

from models import AuditLog, Throttle
from services import passwords
from tests.conftest import TEST_PASSWORD, last_email, outbox_links, path_of

WRONG = "Mauvais-Mot-De-Passe-3!"


@pytest.fixture
def app_config(request):
    name = request.node.name
    if name == "test_limits_per_address_are_shared_through_redis":
        # A prefix of its own: the Redis database outlives this run, and the other database's run.
        return {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/15", "RATELIMIT_KEY_PREFIX": uuid.uuid4().hex,
                "LOGIN_RATE_LIMIT": "5 per minute"}
    if name == "test_behind_a_trusted_proxy_each_visitor_has_its_own_limit":
        return {"TRUSTED_PROXIES": 1, "LOGIN_RATE_LIMIT": "3 per minute"}
    if name in ("test_logins_are_limited_per_address", "test_unless_trusted_a_forged_forwarded_address_changes_nothing"):
        return {"LOGIN_RATE_LIMIT": "3 per minute"}
    return {}


def _fail(client, email, times=5, path="/connexion"):
    for _ in range(times):
        client.post(path, data={"email": email, "password": WRONG})


def test_failures_for_unknown_addresses_lock_nobody_else_out(client, make_driver, make_staff, login_staff):
    driver = make_driver(state="active")
    for n in range(6):
        _fail(client, f"inconnu{n}@exemple.fr")
    assert client.post("/connexion", data={"email": driver.email, "password": TEST_PASSWORD}).status_code == 302
    member = make_staff()
    _fail(client, "personne@ingroupe.fr", path="/admin/connexion")
    assert login_staff(member).status_code == 302


def test_a_locked_account_does_not_lock_another(app, make_driver):
    victim, other = make_driver(state="active"), make_driver(state="active")
    attacker = app.test_client()
    _fail(attacker, victim.email)
    locked = attacker.post("/connexion", data={"email": victim.email, "password": TEST_PASSWORD})
    assert "Trop de tentatives" in locked.get_data(as_text=True)
    assert app.test_client().post("/connexion", data={"email": other.email, "password": TEST_PASSWORD}).status_code == 302


def test_the_owner_of_a_locked_account_receives_a_link_that_unlocks_it(app, client, make_driver):
    driver = make_driver(state="active")
    _fail(client, driver.email)
    message = last_email(driver.email)
    assert message.subject == "Votre compte Hub Pro Transport est temporairement bloqué"
    link = next(link for link in outbox_links(message) if "/deblocage/" in link)
    page = client.get(path_of(link)).get_data(as_text=True)
    assert "Débloquer mon compte" in page
    done = client.post(path_of(link))
    assert done.status_code == 302 and done.headers["Location"].endswith("/connexion")
    assert client.post("/connexion", data={"email": driver.email, "password": TEST_PASSWORD}).status_code == 302
    assert AuditLog.select().where(AuditLog.action == "Compte débloqué par son titulaire").exists()
    assert client.post(path_of(link)).status_code == 410


def test_a_locked_unknown_address_sends_no_mail_and_answers_the_same(client, make_driver):
    driver = make_driver(state="active")
    _fail(client, driver.email)
    _fail(client, "inconnu@exemple.fr")
    known = client.post("/connexion", data={"email": driver.email, "password": WRONG}).get_data(as_text=True)
    unknown = client.post("/connexion", data={"email": "inconnu@exemple.fr", "password": WRONG}).get_data(as_text=True)
    assert known.replace(driver.email, "X") == unknown.replace("inconnu@exemple.fr", "X")
    assert last_email("inconnu@exemple.fr") is None
    assert Throttle.select().count() == 2


def test_logins_are_limited_per_address(app, make_driver):
    driver = make_driver(state="active")
    visitor = app.test_client()
    codes = [visitor.post("/connexion", data={"email": driver.email, "password": WRONG}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert "Trop de demandes" in visitor.post("/connexion", data={"email": "x@exemple.fr", "password": WRONG}).get_data(as_text=True)


def test_limits_per_address_are_shared_through_redis(app, make_driver):
    driver = make_driver(state="active")
    # Two clients stand for two web processes: the count lives in Redis, not in either of them.
    first, second = app.test_client(), app.test_client()
    codes = [(first if n % 2 else second).post("/connexion", data={"email": driver.email, "password": WRONG}).status_code
             for n in range(6)]
    assert codes == [200] * 5 + [429]


def test_behind_a_trusted_proxy_each_visitor_has_its_own_limit(app, make_driver):
    driver = make_driver(state="active")
    client = app.test_client()

    def attempt(address):
        return client.post("/connexion", data={"email": driver.email, "password": WRONG},
                           headers={"X-Forwarded-For": address}).status_code

    assert [attempt("203.0.113.7") for _ in range(4)] == [200, 200, 200, 429]
    assert attempt("198.51.100.4") == 200


def test_unless_trusted_a_forged_forwarded_address_changes_nothing(app, make_driver):
    driver = make_driver(state="active")
    client = app.test_client()
    codes = [client.post("/connexion", data={"email": driver.email, "password": WRONG},
                         headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code for n in range(4)]
    assert codes == [200, 200, 200, 429]


def test_login_hashes_once_whether_the_address_exists_or_not(client, make_driver, make_staff, monkeypatch):
    """The timing class: a known address, an unknown one and an account without a password cost one hash each."""
    checks = []
    real = security.check_password_hash
    monkeypatch.setattr(passwords, "check_password_hash", lambda h, p: checks.append(h.split("$")[0]) or real(h, p))
    driver, pending, member = make_driver(state="active"), make_driver(state="en_analyse"), make_staff()
    for path, email in [("/connexion", driver.email), ("/connexion", "inconnu@exemple.fr"), ("/connexion", pending.email),
                        ("/admin/connexion", member.email), ("/admin/connexion", "inconnu@ingroupe.fr")]:
        checks.clear()
        client.post(path, data={"email": email, "password": WRONG})
        assert checks == ["pbkdf2:sha256:1000"], (path, email)
