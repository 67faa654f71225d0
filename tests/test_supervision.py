"""« Supervision » (issue 9): every request and card of the organisation, who made it, filters, CSV export."""
import csv
import html
import io

import pytest

from models import ProcedureCode, Role
from tests.cqc_files import make_member
from tests.tachy_data import accepted, company_driver, company_under_contract, sent_company_cards, sent_driver_card, tachy_tariffs


@pytest.fixture
def supervised(app, make_staff):
    tachy_tariffs()
    staff = make_staff(procedures=[ProcedureCode.CONTRAT_TACHY, ProcedureCode.TACHY_CONDUCTEUR,
                                   ProcedureCode.TACHY_ENTREPRISE])
    company, admin, manager = company_under_contract(staff)
    other_manager = make_member(company, Role.ORG_MANAGER, email="second@exemple.fr")
    other_manager.last_name = "Bernard"
    other_manager.save()
    first, second = company_driver(company), company_driver(company, licence="14AB12345", last_name="Leroy",
                                                            first_name="Marie")
    card, = accepted(sent_driver_card(manager, first), staff)
    pending = sent_driver_card(other_manager, second)
    sent_company_cards(other_manager)
    return {"admin": admin, "manager": manager, "other": other_manager, "card": card, "pending": pending,
            "first": first, "second": second}


def page_of(response):
    return html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("who", ["admin", "manager"])
def test_administrators_and_managers_see_every_request_and_its_author(client, login_user, supervised, who):
    login_user(supervised[who])
    page = page_of(client.get("/supervision/"))
    assert "Demandes (4)" in page.replace("<span class=\"muted\">", "").replace("</span>", "")
    assert "Contrat TACHY d'un établissement" in page and "Carte tachygraphe entreprise" in page
    assert supervised["card"].number in page and "Carte en fabrication" in page
    assert "Claire BERNARD" in page and "Claire DURAND" in page


def test_the_filters_narrow_by_state_procedure_driver_and_author(client, login_user, supervised):
    login_user(supervised["manager"])
    by_driver = page_of(client.get(f"/supervision/?conducteur={supervised['second'].id}"))
    assert f'id="demande-{supervised["pending"].id}"' in by_driver and supervised["card"].number not in by_driver
    by_author = page_of(client.get(f"/supervision/?auteur={supervised['other'].id}&demarche=TACHY_ENTREPRISE"))
    assert by_author.count('id="demande-') == 1 and "Carte tachygraphe entreprise" in by_author
    by_state = page_of(client.get("/supervision/?etat=acceptee&demarche=TACHY_CONDUCTEUR"))
    assert by_state.count('id="demande-') == 1 and supervised["card"].number in by_state
    assert client.get("/supervision/?etat=%00&conducteur=%C2%B2&auteur=99999999999999999999").status_code == 200


def test_the_csv_export_holds_the_filtered_requests(client, login_user, supervised):
    login_user(supervised["admin"])
    response = client.get("/supervision/?format=csv&demarche=TACHY_CONDUCTEUR")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:5] == ["N° de demande", "Démarche", "Conducteur", "N° de permis", "Demande faite par"]
    assert len(rows) == 3
    accepted_row = next(r for r in rows[1:] if r[0] == str(supervised["card"].dossier_id))
    assert accepted_row[2] == "VANNEST Philippe" and accepted_row[4] == "Claire DURAND" and accepted_row[8] == supervised["card"].number


def test_a_spreadsheet_formula_is_exported_as_text(client, login_user, supervised):
    supervised["first"].last_name = "=HYPERLINK(\"http://x\")"
    supervised["first"].save()
    login_user(supervised["admin"])
    body = client.get("/supervision/?format=csv").get_data(as_text=True)
    assert "'=HYPERLINK" in body
