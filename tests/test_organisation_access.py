"""Who reaches what (issue 8): the menu of each role as guide 000 draws it, and the role × page matrix.

A page outside one's menu answers 403; anything of another organisation answers 404.
"""
import re

import pytest

from models import Contract, Dossier, OrgKind, Organisation, ProcedureCode, Role
from public_forms import MENU, Audience
from services import dossiers
from tests.cqc_files import make_centre, make_member

#: The menu each audience sees, in order (guide 000 for organisations).
MENUS = {
    Audience.DRIVER: ["Accueil", "Mon compte", "Mes formations", "Mes certificats", "Mes Demandes", "Mes Factures",
                      "Mes Cartes"],
    Audience.COMPANY_ADMIN: ["Accueil", "Mon compte", "Mon Contrat", "Mes Gestionnaires", "Mes Conducteurs",
                             "Mes Demandes", "Mes Factures", "Mes Cartes", "Supervision"],
    Audience.COMPANY_MANAGER: ["Accueil", "Mes Conducteurs", "Mes Demandes", "Mes Cartes", "Supervision"],
    Audience.CENTRE_ADMIN: ["Accueil", "Mon compte", "Mon Contrat", "Mes Gestionnaires", "Mes formations déclarées",
                            "Mes Demandes", "Mes Factures", "Supervision"],
    Audience.CENTRE_MANAGER: ["Accueil", "Mes formations déclarées"],
}


@pytest.fixture
def people(app, make_driver):
    """One account per audience, plus a deputy and another company's administrator."""
    company = Organisation.create(kind=OrgKind.COMPANY, siret="82345678500026", name="TRANSPORTS MARTIN ET FILS")
    other = Organisation.create(kind=OrgKind.COMPANY, siret="52525252400059", name="EXPRESS ROUTE SUD")
    centre = make_centre()
    return {
        Audience.DRIVER: make_driver(state="active"),
        Audience.COMPANY_ADMIN: make_member(company, Role.ORG_ADMIN),
        "deputy": make_member(company, Role.ORG_DEPUTY),
        Audience.COMPANY_MANAGER: make_member(company, Role.ORG_MANAGER),
        Audience.CENTRE_ADMIN: make_member(centre, Role.ORG_ADMIN),
        Audience.CENTRE_MANAGER: make_member(centre, Role.ORG_MANAGER),
        "other": make_member(other, Role.ORG_ADMIN),
    }


def menu_of(page):
    nav = page.split('aria-label="Menu principal"', 1)[1].split("</nav>", 1)[0]
    return [re.sub(r"\s+", " ", label).strip() for label in re.findall(r">([^<]+)</a>", nav)]


@pytest.mark.parametrize("audience", list(MENUS))
def test_each_role_sees_its_menu_in_the_guide_order(client, login_user, people, audience):
    login_user(people[audience])
    assert menu_of(client.get("/").get_data(as_text=True)) == MENUS[audience]


def test_a_deputy_sees_exactly_the_administrator_menu(client, login_user, people):
    login_user(people["deputy"])
    assert menu_of(client.get("/").get_data(as_text=True)) == MENUS[Audience.COMPANY_ADMIN]


def entry_pages(app):
    """Return (endpoint, path, audiences) of every menu entry whose page exists."""
    return [(endpoint, app.url_for(endpoint), who) for _, endpoint, who in MENU if endpoint in app.view_functions]


def test_every_menu_page_lets_in_exactly_its_audiences(app, client, login_user, login_staff, make_staff, people):
    leaks = []
    for audience, person in [*((a, people[a]) for a in MENUS), (Audience.COMPANY_ADMIN, people["deputy"])]:
        login_user(person)
        for endpoint, path, who in entry_pages(app):
            status = client.get(path).status_code
            if status != (200 if audience in who else 403):
                leaks.append((audience, endpoint, status))
        client.post("/deconnexion")
    login_staff(make_staff(role="local_admin", manages_files=True))
    leaks += [("staff", endpoint, client.get(path).status_code) for endpoint, path, _ in entry_pages(app)
              if endpoint != "home.index" and client.get(path).status_code != 403]
    assert leaks == []


def test_anonymous_visitors_are_sent_to_the_login(app, client):
    for endpoint, path, _ in entry_pages(app):
        if endpoint != "home.index":
            response = client.get(path)
            assert response.status_code == 302 and "/connexion" in response.headers["Location"], endpoint


def subscribed_contract(admin):
    dossier = dossiers.start(ProcedureCode.CONTRAT_TACHY, admin)
    Contract.update(legal_last_name="MARTIN", legal_first_name="Jean", legal_function="Gérant",
                    billing_address="5 ZA des Peupliers", billing_postal_code="59128", billing_city="Flers",
                    contact_phone="0123456789", conditions_accepted=True).where(Contract.dossier == dossier).execute()
    dossiers.validate(Dossier.get_by_id(dossier.id), admin)
    return Dossier.get_by_id(dossier.id)


def test_another_organisation_s_people_and_files_answer_404(client, login_user, people):
    company_admin, manager = people[Audience.COMPANY_ADMIN], people[Audience.COMPANY_MANAGER]
    contract = subscribed_contract(company_admin)
    login_user(people["other"])
    assert client.get(f"/mes-gestionnaires/{manager.id}/modifier").status_code == 404
    assert client.post(f"/mes-gestionnaires/{manager.id}/supprimer").status_code == 404
    assert client.post(f"/mes-gestionnaires/{manager.id}/renvoyer").status_code == 404
    for path in (f"/mon-contrat/{contract.id}", f"/mon-contrat/{contract.id}/etapes/facturation",
                 f"/mon-contrat/{contract.id}/reprendre"):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/mon-contrat/{contract.id}/annuler").status_code == 404
    assert "Demande n° %d" % contract.id not in client.get("/mes-demandes/?rubrique=en-cours").get_data(as_text=True)
    assert f"membre-{manager.id}" not in client.get("/mes-gestionnaires/").get_data(as_text=True)


def test_the_organisation_s_own_people_see_its_contract_by_their_rights(client, login_user, people):
    contract = subscribed_contract(people[Audience.COMPANY_ADMIN])
    login_user(people["deputy"])
    assert client.get(f"/mon-contrat/{contract.id}").status_code == 200
    assert "Contrat TACHY" in client.get("/mes-demandes/?rubrique=en-cours").get_data(as_text=True)
    client.post("/deconnexion")
    login_user(people[Audience.COMPANY_MANAGER])
    assert client.get(f"/mon-contrat/{contract.id}").status_code == 403
    assert "Contrat TACHY" not in client.get("/mes-demandes/?rubrique=en-cours").get_data(as_text=True)
    client.post("/deconnexion")
    login_user(people[Audience.DRIVER])
    assert client.get(f"/mon-contrat/{contract.id}").status_code == 403
    assert client.get(f"/mes-demandes/{contract.id}").status_code == 404
