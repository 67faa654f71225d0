"""Guide 001/004 « Je visualise mes récapitulatifs de formation » and « J'accède à mon certificat de qualification »."""
import html
import re

import pytest

from models import Certificate, Training
from tests.driver_data import make_centre, record


def text(response):
    """Return a page as a person reads it (entities decoded)."""
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def centre(app):
    return make_centre()


@pytest.fixture
def driver(make_driver, login_user):
    user = make_driver(state="active")
    login_user(user)
    return user


def rows(page):
    return re.findall(r"<tr>\s*<td><strong>(.*?)</strong>", page)


def test_my_trainings_lists_each_summary_with_view_and_download(client, centre, driver):
    fimo = record(centre, driver, "FIMO", ended_days_ago=40)
    fco = record(centre, driver, "FCO", ended_days_ago=5)
    page = text(client.get("/mes-formations"))
    assert "Mes formations" in page
    assert rows(page) == ["FCO Marchandises", "FIMO Marchandises"]  # most recent first
    assert "AFTRAL Lille 1" in page
    view = f'href="/mes-formations/{fimo.id}/recapitulatif.pdf" target="_blank"'
    assert view in page and f'href="/mes-formations/{fco.id}/recapitulatif.pdf" target="_blank"' in page
    assert f'href="/mes-formations/{fimo.id}/recapitulatif.pdf?telecharger=1"' in page
    assert 'class="tabs"' not in page  # one qualification: no selector


def test_the_summary_opens_inline_and_downloads_as_an_attachment(client, centre, driver):
    training = record(centre, driver)
    shown = client.get(f"/mes-formations/{training.id}/recapitulatif.pdf")
    assert shown.status_code == 200 and shown.mimetype == "application/pdf"
    assert shown.headers["Content-Disposition"].startswith("inline")
    assert shown.data.startswith(b"%PDF-")
    saved = client.get(f"/mes-formations/{training.id}/recapitulatif.pdf?telecharger=1")
    assert saved.headers["Content-Disposition"].startswith("attachment")
    assert "recapitulatif-fimo-marchandises" in saved.headers["Content-Disposition"]
    assert saved.data == shown.data


def test_fco_summaries_disappear_after_six_years_initial_ones_stay(client, clock, centre, driver):
    fimo = record(centre, driver, "FIMO", ended_days_ago=60)
    fco = record(centre, driver, "FCO", ended_days_ago=5)
    clock.advance(days=365 * 6 - 2)
    assert rows(text(client.get("/mes-formations"))) == ["FCO Marchandises", "FIMO Marchandises"]
    clock.advance(days=5)
    assert rows(text(client.get("/mes-formations"))) == ["FIMO Marchandises"]
    assert client.get(f"/mes-formations/{fco.id}/recapitulatif.pdf").status_code == 404
    assert client.get(f"/mes-formations/{fimo.id}/recapitulatif.pdf").status_code == 200


def test_a_driver_with_both_qualifications_picks_one(client, centre, driver):
    record(centre, driver, "FIMO", "Marchandises", ended_days_ago=90)
    record(centre, driver, "Passerelle", "Voyageurs", ended_days_ago=5)
    page = text(client.get("/mes-formations"))
    assert 'class="tabs"' in page
    assert '?qualification=Marchandises" class="active"' in page and "?qualification=Voyageurs" in page
    assert rows(page) == ["FIMO Marchandises"]
    page = text(client.get("/mes-formations?qualification=Voyageurs"))
    assert '?qualification=Voyageurs" class="active"' in page
    assert rows(page) == ["Passerelle Voyageurs"]


def test_a_single_qualification_shows_no_selector(client, centre, driver):
    record(centre, driver, "FIMO", "Voyageurs")
    page = text(client.get("/mes-formations"))
    assert 'class="tabs"' not in page and rows(page) == ["FIMO Voyageurs"]


def test_no_summary_yet(client, driver):
    assert "Aucun récapitulatif de formation" in text(client.get("/mes-formations"))


def test_my_certificates_show_dates_state_and_download(client, clock, centre, driver):
    training = record(centre, driver, "FIMO", ended_days_ago=5)
    certificate = Certificate.get(Certificate.training == training)
    page = text(client.get("/mes-certificats"))
    assert "Mes certificats" in page and "Valable jusqu'au" in page
    assert certificate.issued_on.strftime("%d/%m/%Y") in page
    assert certificate.expires_on.strftime("%d/%m/%Y") in page
    assert "Valide" in page and "Expiré" not in page
    link = f'href="/mes-certificats/{certificate.id}/certificat.pdf"'
    assert link in page
    response = client.get(f"/mes-certificats/{certificate.id}/certificat.pdf")
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF-")
    assert response.headers["Content-Disposition"].startswith("attachment")
    clock.advance(days=130)
    page = text(client.get("/mes-certificats"))
    assert "Expiré" in page and ">Valide<" not in page


def test_another_driver_never_gets_my_pdfs(app, centre, make_driver, login_user, client):
    owner = make_driver(state="active")
    training = record(centre, owner)
    certificate = Certificate.get(Certificate.training == training)
    intruder = make_driver(state="active")
    login_user(intruder)
    assert client.get(f"/mes-formations/{training.id}/recapitulatif.pdf").status_code == 404
    assert client.get(f"/mes-formations/{training.id}/recapitulatif.pdf?telecharger=1").status_code == 404
    assert client.get(f"/mes-certificats/{certificate.id}/certificat.pdf").status_code == 404
    page = text(client.get("/mes-formations"))
    assert "FIMO Marchandises" not in page


def test_the_pages_need_a_logged_in_driver(client, centre, make_driver):
    training = record(centre, make_driver(state="active"))
    for url in ["/mes-formations", "/mes-certificats", f"/mes-formations/{training.id}/recapitulatif.pdf"]:
        response = client.get(url)
        assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_the_menu_leads_to_both_pages(client, driver):
    page = text(client.get("/"))
    assert 'href="/mes-formations"' in page and 'href="/mes-certificats"' in page
    assert Training.select().count() == 0
