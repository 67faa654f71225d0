"""The back office in a real browser, on the demo data set: its main pages pass axe-core's WCAG 2.1 AA rules (no
critical or serious violation), and a browser set to English still reads French, Flask-Admin's messages included."""
import os
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CHROMIUM, axe_violations

if not os.path.exists(CHROMIUM):
    pytest.skip(f"Chromium absent ({CHROMIUM}) : tests de bout en bout ignorés.", allow_module_level=True)

#: The back office's main pages, as a local administrator opens them.
PAGES = [
    "/admin/",
    "/admin/account_queue/",
    "/admin/all_accounts/",
    "/admin/cqc_requests/",
    "/admin/replacement_requests/",
    "/admin/tachograph_requests/",
    "/admin/cards_admin/",
    "/admin/contracts/",
    "/admin/approvals/",
    "/admin/approvals/new/",
    "/admin/procedures/",
    "/admin/news/",
    "/admin/news/new/",
    "/admin/staff/",
    "/admin/staff/new/",
    "/admin/subscriptions/",
    "/admin/tariffs/",
    "/admin/tariffs/new/",
    "/admin/invoices_admin/",
    "/admin/outbox/",
    "/admin/audit/",
    "/admin/double-authentification",
]


@pytest.fixture
def demo(live):
    """The demo data set, with a CQC request sent by its driver; return the pages of one row of each kind."""
    from models import Dossier, News, Procedure, ProcedureCode, Staff, Subscription, User
    from services import demo as demo_data
    from tests.cqc_files import sent_request

    with live.database():
        list(demo_data.load())
        request = sent_request(User.get(User.email == "paul.martin@exemple.fr"))
        account = Dossier.select().join(Procedure).where(
            Procedure.code == ProcedureCode.COMPTE_PARTICULIER, Dossier.state == "en_analyse").first()
        contract = Dossier.select().join(Procedure).where(Procedure.code == ProcedureCode.CONTRAT_TACHY).first()
        agent = Staff.get(Staff.email == demo_data.AGENT_EMAIL)
        return [
            f"/admin/cqc_requests/demande/{request.id}",
            f"/admin/account_queue/analyse/{account.id}",
            f"/admin/contracts/demande/{contract.id}",
            f"/admin/staff/edit/?id={agent.id}",
            f"/admin/news/edit/?id={News.get().id}",
            f"/admin/subscriptions/edit/?id={Subscription.get().id}",
        ]


def log_in_as_demo_admin(page):
    from services.demo import ACCOUNTS

    _, email, password = ACCOUNTS[0]
    page.goto("/admin/connexion")
    page.get_by_label("Adresse électronique").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Connexion").click()
    expect(page.get_by_role("button", name="Déconnexion")).to_be_visible()


def test_the_main_back_office_pages_have_no_serious_accessibility_violation(new_page, demo):
    page = new_page()
    page.goto("/admin/connexion")
    page.wait_for_load_state()
    found = {"/admin/connexion": axe_violations(page)}
    log_in_as_demo_admin(page)
    for path in PAGES + demo:
        response = page.goto(path)
        assert response.status == 200, path
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == "fr", path
        assert page.locator("meta[http-equiv='X-UA-Compatible']").count() == 0, path
        found[path] = axe_violations(page)
    # A form the server sent back with its errors (every field empty).
    page.goto("/admin/staff/new/")
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page.get_by_text("Échec de la création de l'enregistrement")).to_be_visible()
    found["/admin/staff/new/ (erreurs)"] = axe_violations(page)
    found = {path: violations for path, violations in found.items() if violations}
    assert not found, "\n".join(f"{path} : {violations}" for path, violations in found.items())


def test_a_browser_in_english_reads_the_back_office_in_french(new_page, demo):
    page = new_page(locale="en-US")
    log_in_as_demo_admin(page)
    page.goto("/admin/subscriptions/new/")
    # « Modalité d'accès » left unchosen: the server answers, in French, whatever the browser's language.
    page.get_by_label(re.compile("^Notifications")).fill("certification@hubpro-transport.fr")
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page.get_by_text("Échec de la création de l'enregistrement : corrigez les champs signalés.")).to_be_visible()
    expect(page.get_by_text("La modalité d'accès est une sélection obligatoire.")).to_be_visible()
    text = page.locator("body").inner_text()
    assert "Failed" not in text and "required" not in text.lower()
    assert page.get_by_role("button", name="Enregistrer", exact=True).is_visible()
    assert page.get_by_role("button", name="Annuler").is_visible()

    # An edit saved: Flask-Admin's confirmation, in French.
    page.goto("/admin/news/")
    page.locator("a[title='Modifier l\\'enregistrement']").first.click()
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page.get_by_text("Les modifications sont enregistrées.")).to_be_visible()
