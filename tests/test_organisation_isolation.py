"""Isolation between two companies (issue 9): every rule of the organisations' pages, tried by the other company's
administrator and manager on the first company's drivers, requests, documents, cards and invoices: 0 leaks."""
import re

import pytest

from models import Card, CardState, CompanyDriver, Document, Dossier, Invoice, ProcedureCode, RequestState
from services import invoices
from tests.conftest import TEST_PASSWORD
from tests.tachy_data import (
    SUD, accepted, company_driver, company_under_contract, sent_company_cards, sent_driver_card, tachy_tariffs,
)

#: The blueprints serving organisations' data.
BLUEPRINTS = ("drivers", "tachographs", "supervision", "cards", "managers", "contract", "invoices", "requests")


@pytest.fixture
def two_companies(app, make_staff):
    tachy_tariffs()
    staff = make_staff(procedures=[ProcedureCode.CONTRAT_TACHY, ProcedureCode.TACHY_CONDUCTEUR,
                                   ProcedureCode.TACHY_ENTREPRISE])
    mine = company_under_contract(staff)
    theirs = company_under_contract(staff, siret=SUD, name="EXPRESS ROUTE SUD", number="TACHY-2026-00099")
    company, admin, manager = mine
    driver = company_driver(company, last_name="Secretnom")
    card, = accepted(sent_driver_card(manager, driver), staff)
    answered = sent_company_cards(manager)
    invoices.monthly_contract_invoices(card.issued_on.replace(day=1))
    return {
        "mine": mine, "theirs": theirs, "driver": driver, "card": card, "dossier": Dossier.get_by_id(card.dossier_id),
        "open": answered, "invoice": Invoice.get(Invoice.organisation == company),
        "document": Document.select().where(Document.dossier == card.dossier_id).first(),
    }


def values_for(rule, data):
    """Fill a rule's parameters with the first company's identifiers."""
    ids = {"dossier_id": data["open"].id, "card_id": data["card"].id, "member_id": data["mine"][2].id,
           "driver_id": data["driver"].id,
           "document_id": data["document"].id, "invoice_id": data["invoice"].id, "step": "cartes",
           "reference": "P0", "token": "x"}
    return {name: ids[name] for name in rule.arguments}


def mine_count(data):
    """The first company's files (the other company may open drafts of its own)."""
    return Dossier.select().where(Dossier.organisation == data["mine"][0]).count()


def test_no_rule_shows_or_changes_the_other_company_s_data(app, client, two_companies):
    data = two_companies
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.split(".")[0] in BLUEPRINTS]
    leaks, tried = [], 0
    before = {"card": data["card"].state, "open": data["open"].state, "driver": data["driver"].last_name,
              "drivers": CompanyDriver.select().count(), "dossiers": mine_count(data)}
    for person in data["theirs"][1:]:
        client.post("/connexion", data={"email": person.email, "password": TEST_PASSWORD})
        for rule in rules:
            path = rule.build(values_for(rule, data), append_unknown=False)[1]
            for method in ("GET", "POST") if "POST" in rule.methods else ("GET",):
                tried += 1
                response = client.open(path, method=method, data={"company_driver": data["driver"].id,
                                                                  "reason": "premiere", "siret": "x"})
                body = response.get_data(as_text=True)
                if response.status_code == 200 and re.search(r"SECRETNOM|Secretnom|TRANSPORTS MARTIN|" + data["card"].number, body):
                    leaks.append((person.role, method, path))
                if response.status_code >= 500:
                    leaks.append((person.role, method, path, response.status_code))
        client.post("/deconnexion")
    after = {"card": Card.get_by_id(data["card"].id).state, "open": Dossier.get_by_id(data["open"].id).state,
             "driver": CompanyDriver.get_by_id(data["driver"].id).last_name,
             "drivers": CompanyDriver.select().count(), "dossiers": mine_count(data)}
    assert leaks == []
    assert after == before
    assert tried > 60


def test_listing_pages_and_exports_hold_only_the_company_s_own_rows(client, two_companies, login_user):
    data = two_companies
    for person in data["theirs"][1:]:
        login_user(person)
        for path in ("/mes-conducteurs/", "/supervision/", "/supervision/?format=csv", "/mes-cartes/",
                     "/mes-demandes/?rubrique=en-cours", "/mes-factures", "/mes-demandes/tachygraphe/conducteur"):
            response = client.get(path)
            assert response.status_code in (200, 403), path
            body = response.get_data(as_text=True)
            assert "Secretnom".upper() not in body.upper() and data["card"].number not in body, (person.role, path)
        client.post("/deconnexion")
    assert data["card"].state == CardState.EN_FABRICATION and data["open"].state == RequestState.ENVOYEE
