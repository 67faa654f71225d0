"""The staff dashboard in a real browser (issue 12, point 8): its numbers open the filtered queues, the charts need no
script and pass axe-core, an export downloads, a filter is saved from the queue and found on the home page."""
import csv
import datetime as dt
import io
import os
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CHROMIUM, TEST_PASSWORD, axe_violations

if not os.path.exists(CHROMIUM):
    pytest.skip(f"Chromium absent ({CHROMIUM}) : tests de bout en bout ignorés.", allow_module_level=True)


@pytest.fixture
def agent(live, monkeypatch):
    """The known data set of tests/dashboard_data.py, and an agent habilitated for its procedures; return its e-mail."""
    from models import AccountState, Dossier, Habilitation, Procedure, Staff, StaffRole, User
    from services import accounts, documents, passwords
    from tests import dashboard_data
    from tests.cqc_files import PDF

    monkeypatch.setattr(documents, "summary_pdf", lambda training: PDF)
    monkeypatch.setattr(documents, "certificate_pdf", lambda certificate: PDF)
    counter = iter(range(1, 100))

    def make_driver(state="en_analyse", last_name="Martin", first_name="Paul"):
        n = next(counter)
        user = accounts.register_driver({
            "email": f"conducteur{n}@exemple.fr", "last_name": last_name, "first_name": first_name,
            "birth_date": dt.date(1991, 8, 19), "birth_place": "Lille", "birth_country": "France",
            "licence_number": f"13AA{n:05d}", "mobile": "+33612345678", "address": "12 rue des Lilas",
            "address_extra": "", "postal_code": "59000", "city": "Lille"}, live.app.config["DRIVER_CONSENTS"])
        if state == "active":
            Dossier.update(state=AccountState.ACTIVE).where(Dossier.user == user.id).execute()
        return User.get_by_id(user.id)

    with live.database():
        dashboard_data.build(make_driver)
        member = Staff.create(email="agent.tableau@ingroupe.fr", role=StaffRole.AGENT, first_name="Karim",
                              last_name="Benali", password_hash=passwords.hash_password(TEST_PASSWORD))
        for code in dashboard_data.CODES:
            Habilitation.create(staff=member, procedure=Procedure.by_code(code))
    return member.email


def log_in(page, email):
    page.goto("/admin/connexion")
    page.get_by_label("Adresse électronique").fill(email)
    page.get_by_label("Mot de passe").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Connexion").click()
    expect(page.get_by_role("button", name="Déconnexion")).to_be_visible()


def test_the_dashboard_leads_to_its_files_exports_them_and_keeps_a_filter(new_page, agent):
    page = new_page()
    log_in(page, agent)
    table = page.locator("#tableau-de-bord")
    cqc = table.locator("tr[data-procedure='CQC']")
    expect(cqc.locator("td").nth(3)).to_contain_text("2")
    for details in page.locator("details").all():
        details.locator("summary").click()
    assert axe_violations(page) == []

    # The charts of one procedure, chosen without any script; their table opens the files of a day.
    page.get_by_label("Démarche").select_option(label="Carte de qualification de conducteur (CQC)")
    page.get_by_role("button", name="Afficher").click()
    expect(page.get_by_role("img", name=re.compile("^Télédossiers reçus et décidés par jour"))).to_be_visible()
    page.locator("details").first.locator("summary").click()
    expect(page.locator("details").first.locator("a").first).to_be_visible()
    assert axe_violations(page) == []

    # « En retard » for CQC: the queue lists those 2 files, the oldest first.
    page.goto("/admin/")
    cqc.locator("td").nth(3).get_by_role("link").click()
    expect(page.locator("table.model-list tbody tr")).to_have_count(2)
    assert "/admin/cqc_requests/" in page.url and axe_violations(page) == []

    with page.expect_download() as download:
        page.get_by_role("link", name="CSV (Excel)").click()
    rows = list(csv.reader(io.StringIO(open(download.value.path(), encoding="utf-8-sig").read()), delimiter=";"))
    assert rows[0][:2] == ["Envoyée le", "N°"] and len(rows) == 3

    page.get_by_label("Enregistrer ces filtres sous le nom").fill("CQC en retard")
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page.get_by_text("Le filtre « CQC en retard » est enregistré")).to_be_visible()
    page.goto("/admin/")
    page.get_by_role("link", name="CQC en retard").click()
    expect(page.locator("table.model-list tbody tr")).to_have_count(2)
    page.get_by_role("button", name="Supprimer le filtre « CQC en retard »").click()
    expect(page.get_by_text("Le filtre « CQC en retard » est supprimé.")).to_be_visible()
