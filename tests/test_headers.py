"""Every answer carries a Content-Security-Policy without inline script, refuses framing and MIME sniffing, and
pages whose address carries a secret send no Referer."""
import re

import pytest

from models import StaffRole, TokenPurpose
from services import tokens


def _policy(response):
    return dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))


@pytest.mark.parametrize("path", ["/", "/connexion", "/creer-un-compte/particulier", "/admin/connexion"])
def test_public_pages_carry_the_security_headers(client, path):
    response = client.get(path)
    policy = _policy(response)
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_back_office_scripts_carry_the_nonce_of_the_page(client, make_staff, login_staff):
    login_staff(make_staff(role=StaffRole.LOCAL_ADMIN))
    response = client.get("/admin/staff/")
    nonce = re.search(r"'nonce-([^']+)'", _policy(response)["script-src"]).group(1)
    page = response.get_data(as_text=True)
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts and all(f'nonce="{nonce}"' in tag for tag in scripts)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert client.get("/admin/staff/").headers["Content-Security-Policy"] != response.headers["Content-Security-Policy"]


def test_public_pages_have_no_inline_script(client):
    for path in ("/", "/connexion", "/creer-un-compte/particulier", "/mot-de-passe-oublie"):
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert not re.search(r"\son[a-z]+=\"", page), path


def test_a_page_whose_address_carries_a_secret_sends_no_referer(client, make_driver):
    raw = tokens.issue(TokenPurpose.CREATE_PASSWORD, user=make_driver(state="conforme"))
    assert client.get(f"/mot-de-passe/{raw}").headers["Referrer-Policy"] == "no-referrer"
    assert client.get(f"/mot-de-passe/{raw}/saisie").headers["Referrer-Policy"] == "no-referrer"
