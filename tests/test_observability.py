"""Logs (issue 13): one JSON line per request under a request id, the same id in the audit log and on error pages."""
import io
import json
import logging
import re
import threading

import pytest

from models import AuditLog, db
from services import audit
from services.observability import MASK, JsonFormatter


@pytest.fixture
def log_lines():
    """Return a function listing the JSON lines written since the test began (the process's own log handler)."""
    handler = next(h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    handler.setStream(previous)


def requests_logged(lines):
    return [line for line in lines if line["logger"] == "hubpro.requests"]


def test_each_request_is_one_json_line_with_its_request_id(client, log_lines):
    response = client.get("/connexion?next=/secret&email=paul@exemple.fr")
    [line] = requests_logged(log_lines())
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])
    assert line["method"] == "GET" and line["path"] == "/connexion" and line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["user_kind"] == "anonymous" and line["user_id"] is None
    assert "paul@exemple.fr" not in json.dumps(line) and "secret" not in json.dumps(line)
    assert client.get("/connexion").headers["X-Request-Id"] != line["request_id"]


def test_the_account_is_logged_by_kind_and_id_never_by_address(client, make_driver, login_user, make_staff,
                                                               login_staff, log_lines):
    driver = make_driver(state="active")
    login_user(driver)
    client.get("/")
    client.post("/deconnexion")
    member = make_staff()
    login_staff(member)
    client.get("/admin/")
    home, back_office = [line for line in requests_logged(log_lines()) if line["method"] == "GET"]
    assert (home["user_kind"], home["user_id"]) == ("public", driver.id)
    assert (back_office["user_kind"], back_office["user_id"]) == ("staff", member.id)
    everything = "\n".join(json.dumps(line) for line in log_lines())
    assert driver.email not in everything and member.email not in everything


def test_a_token_in_a_path_is_masked(client, log_lines):
    client.get("/mot-de-passe/jeton-secret-0123456789")
    [line] = requests_logged(log_lines())
    assert "jeton-secret" not in json.dumps(line) and line["path"].endswith(MASK)


@pytest.mark.parametrize("trusted, given, kept", [
    (1, "5f0c1d2e-aaaa-4bbb-8ccc-0123456789ab", True),
    (0, "5f0c1d2e-aaaa-4bbb-8ccc-0123456789ab", False),
    (1, 'forged", "status": 200', False),
    (1, "x" * 200, False),
])
def test_the_request_id_comes_from_a_trusted_proxy_only(app, client, log_lines, trusted, given, kept):
    app.config["TRUSTED_PROXIES"] = trusted
    response = client.get("/connexion", headers={"X-Request-Id": given})
    [line] = requests_logged(log_lines())
    assert (response.headers["X-Request-Id"] == given) is kept
    assert line["request_id"] == response.headers["X-Request-Id"]


def test_the_same_id_is_in_the_audit_row_and_on_the_500_page(app, client, log_lines):
    @app.get("/essai/erreur")
    def fails():
        audit.record("Essai avant l'erreur", "objet")
        raise RuntimeError("panne simulée")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/essai/erreur")
    reference = response.headers["X-Request-Id"]
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert f"Référence de l'erreur : <code>{reference}</code>" in page
    assert AuditLog.get(AuditLog.action == "Essai avant l'erreur").request_id == reference
    lines = log_lines()
    [logged] = requests_logged(lines)
    assert (logged["status"], logged["request_id"]) == (500, reference)
    # Flask's own line about the exception carries the id too, with its traceback.
    [error] = [line for line in lines if line["level"] == "ERROR"]
    assert error["request_id"] == reference and "panne simulée" in error["exception"]


def test_the_404_page_shows_its_reference(client):
    response = client.get("/page-qui-n-existe-pas")
    assert response.status_code == 404
    assert f"Référence de l'erreur : <code>{response.headers['X-Request-Id']}</code>" in response.get_data(as_text=True)


def test_an_audit_row_written_by_a_job_has_no_request_id(app):
    rows = []

    def job():
        # A job's thread: an app context, no request.
        with app.app_context():
            db.connect(reuse_if_open=True)
            try:
                rows.append(audit.record("Tâche planifiée", "objet"))
            finally:
                db.close()

    thread = threading.Thread(target=job)
    thread.start()
    thread.join()
    assert rows[0].request_id == "" and AuditLog.get_by_id(rows[0].id).request_id == ""
