"""What a tired person or an attacker types into the organisations' forms (issues 8 and 9): never a 500, on SQLite
and PostgreSQL."""
import re

import pytest

from models import ProcedureCode
from services import dossiers
from tests.tachy_data import company_under_contract, tachy_tariffs

NUL = "Van\x00nest"
HUGE = "x" * 100_000


@pytest.fixture
def admin(app, client, login_user, make_staff):
    tachy_tariffs()
    company, admin, _ = company_under_contract(make_staff(procedures=[ProcedureCode.CONTRAT_TACHY]))
    login_user(admin)
    return admin


@pytest.mark.parametrize("value", [NUL, HUGE, "", "   ", "<script>alert(1)</script>", "😀" * 50])
def test_no_form_of_the_organisations_answers_500(client, admin, value):
    dossier = dossiers.start(ProcedureCode.TACHY_ENTREPRISE, admin)
    posts = {
        "/mes-gestionnaires/ajouter": ["last_name", "first_name", "function", "phone", "email", "email_confirm", "admin"],
        f"/mes-gestionnaires/{admin.id}/modifier": ["last_name", "function", "phone", "admin"],
        "/mes-conducteurs/": ["last_name", "first_name", "birth_date", "birth_place", "licence_number", "address",
                              "postal_code", "city", "email"],
        "/mes-demandes/tachygraphe/conducteur": ["company_driver", "reason"],
        f"/mes-demandes/tachygraphe/{dossier.id}/etapes/cartes": ["card_count"],
        "/mon-contrat/etablissements-rattaches": ["siret"],
    }
    for path, names in posts.items():
        response = client.post(path, data={name: value for name in names})
        assert response.status_code < 500, (path, response.status_code)
    for path in ("/mes-conducteurs/?q=", "/supervision/?auteur=", "/centre/formations?q=", "/mes-cartes/?page="):
        assert client.get(path + value[:2000]).status_code < 500, path


def test_a_nul_character_in_otherwise_good_input_is_dropped_not_stored(client, admin):
    from models import CompanyDriver, User

    response = client.post("/mes-gestionnaires/ajouter", data={
        "last_name": NUL, "first_name": "Philippe", "function": "Gestion\x00naire", "phone": "0320000001",
        "email": "p.vannest@transports-martin.fr", "email_confirm": "p.vannest@transports-martin.fr", "admin": "non"})
    assert response.status_code == 302
    assert (User.get(User.email == "p.vannest@transports-martin.fr").last_name,
            User.get(User.email == "p.vannest@transports-martin.fr").function) == ("Vannest", "Gestionnaire")
    response = client.post("/mes-conducteurs/", data={
        "last_name": NUL, "first_name": "Philippe", "birth_date": "14/03/1985", "birth_place": "Lille",
        "licence_number": "13AA\x0000002", "address": "3 rue du Port", "postal_code": "59000", "city": "Lille"})
    assert response.status_code == 302, re.findall(r'class="error"[^>]*>([^<]+)', response.get_data(as_text=True))
    assert (CompanyDriver.get().last_name, CompanyDriver.get().licence_number) == ("Vannest", "13AA00002")


def test_an_optional_field_left_out_of_the_request_is_empty(client, admin):
    from models import TachographRequest

    dossier = dossiers.start(ProcedureCode.TACHY_ENTREPRISE, admin)
    TachographRequest.update(step="adresse").where(TachographRequest.dossier == dossier).execute()
    response = client.post(f"/mes-demandes/tachygraphe/{dossier.id}/etapes/adresse", data={
        "delivery_name": "TRANSPORTS", "delivery_address": "5 ZA", "delivery_postal_code": "59128",
        "delivery_city": "Flers"})
    assert response.status_code == 302
    assert TachographRequest.get(TachographRequest.dossier == dossier).delivery_address_extra == ""


@pytest.mark.parametrize("query", ["search=%00", "search=ab%00cd", "page=-5", "page=99999999999999999999",
                                   "apres=%00~1", "apres=2026-01-01T00:00:00~99999999999"])
def test_no_staff_list_answers_500_to_what_the_address_bar_carries(client, make_staff, login_staff, query):
    login_staff(make_staff(role="local_admin"))
    for queue in ("cqc_requests", "account_queue", "outbox", "audit"):
        assert client.get(f"/admin/{queue}/?{query}").status_code == 200, queue
