"""« Mes Conducteurs » (issue 9): add one, import a CSV with a report per line, search and pages."""
import html
import io
import re

import pytest

from models import CompanyDriver, OrgKind, Organisation, Role
from tests.cqc_files import make_member

URL = "/mes-conducteurs/"


@pytest.fixture
def manager(client, login_user, app):
    company = Organisation.create(kind=OrgKind.COMPANY, siret="82345678500026", name="TRANSPORTS MARTIN ET FILS")
    person = make_member(company, Role.ORG_MANAGER)
    login_user(person)
    return person


def form(**changes):
    """« Ajouter un conducteur » as a manager fills it in; « Date de naissance » is three boxes (jour, mois, année)."""
    data = {"last_name": "Vannest", "first_name": "Philippe", "birth_date-day": "14", "birth_date-month": "03",
            "birth_date-year": "1985", "birth_place": "Lille", "licence_number": "13 aa 00002",
            "address": "3 rue du Port", "address_extra": "", "postal_code": "59000", "city": "Lille", "email": ""}
    data.update(changes)
    return data


def errors_of(page, name):
    return [html.unescape(e) for e in re.findall(rf'<p class="error" id="{name}-error">([^<]+)</p>', page)]


def test_a_driver_is_added_with_the_licence_aid_and_listed(client, manager):
    page = client.get(URL).get_data(as_text=True)
    assert 'data-aid="licence-aid"' in page and "rubrique <strong>5</strong>" in page
    response = client.post(URL, data=form())
    assert response.status_code == 302
    driver = CompanyDriver.get()
    assert (driver.licence_number, driver.organisation_id, driver.added_by_id, driver.email) == (
        "13AA00002", manager.organisation_id, manager.id, "")
    page = html.unescape(client.get(URL).get_data(as_text=True))
    assert "VANNEST" in page and "14/03/1985" in page and "13AA00002" in page


@pytest.mark.parametrize("field, value, message", [
    ("last_name", "", "Ce champ est obligatoire."),
    ("birth_date-day", "32", "Le 32/03/1985 n'existe pas : saisissez une date de naissance valide, par exemple 14 03 1985."),
    ("birth_date-year", "2085", "La date de naissance doit être dans le passé."),
    ("licence_number", "ABC", "Le numéro de permis comporte 9 caractères"),
    ("postal_code", "590", "Le code postal comporte 5 chiffres."),
    ("email", "pas-une-adresse", "Adresse électronique invalide"),
])
def test_wrong_input_is_said_next_to_the_field_and_keeps_the_rest(client, manager, field, value, message):
    page = client.post(URL, data=form(**{field: value})).get_data(as_text=True)
    name = field.split("-")[0]
    assert any(e.startswith(message) for e in errors_of(page, name)), errors_of(page, name)
    assert 'value="Philippe"' in page and not CompanyDriver.select().exists()


def test_the_same_licence_twice_is_refused(client, manager):
    client.post(URL, data=form())
    page = client.post(URL, data=form(first_name="Autre", licence_number="13AA00002")).get_data(as_text=True)
    assert errors_of(page, "licence_number") == ["Ce conducteur est déjà dans « Mes Conducteurs » (même numéro de permis)."]


def test_a_csv_import_reports_each_line(client, manager):
    client.post(URL, data=form())
    csv_text = "\r\n".join([
        "nom;prenom;date_naissance;lieu_naissance;numero_permis;adresse;complement_adresse;code_postal;commune;email",
        "Leroy;Marie;02/05/1990;Douai;14AB12345;1 rue Haute;;59500;Douai;marie.leroy@exemple.fr",
        "Petit;Lucas;32/01/1990;Lens;15AC00001;2 rue Basse;;62300;Lens;",
        "Vannest;Philippe;14/03/1985;Lille;13AA00002;3 rue du Port;;59000;Lille;",
        "Roux;Léa;1992-07-01;Arras;942981379228;4 place Verte;Bât. B;62000;Arras;",
        ";;;;;;;;;",
    ]).encode("cp1252")
    response = client.post("/mes-conducteurs/import", data={"file": (io.BytesIO(csv_text), "conducteurs.csv")},
                           content_type="multipart/form-data")
    page = html.unescape(response.get_data(as_text=True))
    assert "2 conducteur(s) importé(s), 3 ligne(s) refusée(s)." in page
    assert "Date de naissance : Date invalide" in page
    assert "Ce conducteur est déjà dans « Mes Conducteurs »" in page
    assert "Nom : Ce champ est obligatoire." in page
    assert {d.last_name for d in CompanyDriver.select()} == {"Vannest", "Leroy", "Roux"}
    assert CompanyDriver.get(CompanyDriver.last_name == "Roux").first_name == "Léa"


@pytest.mark.parametrize("content, message", [
    (b"", "Choisissez un fichier CSV."),
    (b"nom;prenom\r\nA;B\r\n", "Colonnes manquantes dans la première ligne : date_naissance"),
    (b"\xff\xfe\x00\x01" * 10, "Colonnes manquantes"),
])
def test_a_file_that_is_not_the_expected_csv_is_refused_with_the_reason(client, manager, content, message):
    data = {"file": (io.BytesIO(content), "x.csv")} if content else {}
    page = html.unescape(client.post("/mes-conducteurs/import", data=data, content_type="multipart/form-data")
                         .get_data(as_text=True))
    assert message in page


def test_the_template_names_the_columns(client, manager):
    response = client.get("/mes-conducteurs/modele.csv")
    assert response.mimetype == "text/csv"
    assert response.get_data(as_text=True).lstrip("\ufeff").startswith("nom;prenom;date_naissance;lieu_naissance")


def test_the_list_is_searched_and_paginated(client, manager):
    for n in range(25):
        CompanyDriver.create(organisation=manager.organisation, last_name=f"Conducteur{n:02d}", first_name="Jean",
                             birth_date="1980-01-01", birth_place="Lille", licence_number=f"13AA{n:05d}",
                             address="1 rue", postal_code="59000", city="Lille")
    page = client.get(URL).get_data(as_text=True)
    assert "(25)" in page and "Page 1 sur 2" in page and "CONDUCTEUR19" in page and "CONDUCTEUR20" not in page
    assert "CONDUCTEUR24" in client.get(URL + "?page=2").get_data(as_text=True)
    found = client.get(URL + "?q=13aa 00007").get_data(as_text=True)
    assert "CONDUCTEUR07" in found and "CONDUCTEUR08" not in found
    assert client.get(URL + "?page=99999999999").status_code == 200


def test_a_driver_s_record_is_corrected_and_another_company_s_is_out_of_reach(client, manager, login_user):
    client.post(URL, data=form())
    driver = CompanyDriver.get()
    page = client.get(f"/mes-conducteurs/{driver.id}/modifier").get_data(as_text=True)
    assert 'value="Philippe"' in page
    for name, value in (("day", "14"), ("month", "03"), ("year", "1985")):
        assert f'name="birth_date-{name}" value="{value}"' in page
    response = client.post(f"/mes-conducteurs/{driver.id}/modifier", data=form(last_name="Vanneste", city="Douai"))
    assert response.status_code == 302
    assert (CompanyDriver.get_by_id(driver.id).last_name, CompanyDriver.get_by_id(driver.id).city) == ("Vanneste", "Douai")
    client.post("/deconnexion")
    other = Organisation.create(kind=OrgKind.COMPANY, siret="52525252400059", name="EXPRESS ROUTE SUD")
    login_user(make_member(other, Role.ORG_ADMIN))
    assert client.get(f"/mes-conducteurs/{driver.id}/modifier").status_code == 404
    assert client.post(f"/mes-conducteurs/{driver.id}/modifier", data=form(last_name="Pirate")).status_code == 404
    assert CompanyDriver.get_by_id(driver.id).last_name == "Vanneste"
