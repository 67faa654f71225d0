"""« Mes formations déclarées »: a training centre records trainings; each reaches the driver's account."""
import datetime as dt
import html
import json
import re

import pytest

from models import (
    AccountState,
    Certificate,
    Dossier,
    Notification,
    Organisation,
    OrgKind,
    Role,
    Training,
)
from models import clock, db, deadlines
from services import accounts, storage
from tests.conftest import last_email
from tests.cqc_files import make_centre, make_member, record_for

URL = "/centre/formations"
BIRTH = dt.date(1990, 3, 14)


def errors_of(page, name):
    """Return the error messages shown next to a field."""
    return [html.unescape(m) for m in re.findall(rf'<p class="error" id="{name}-error">(.*?)</p>', page)]


def boxes(name, day):
    """Return a date as the three boxes (jour, mois, année) of the field `name` post it."""
    return {f"{name}-day": f"{day.day:02d}", f"{name}-month": f"{day.month:02d}", f"{name}-year": str(day.year)}


def form(**changes):
    """« Déclarer une formation » as a centre fills it in; a date given as text (JJ/MM/AAAA) goes in its boxes."""
    end = clock.today() - dt.timedelta(days=2)
    data = {
        "kind": "FIMO",
        "category": "Marchandises",
        "start_date": end - dt.timedelta(days=35),
        "end_date": end,
        "last_name": "Lefèvre",
        "first_name": "Éloïse",
        "birth_date": BIRTH,
        "licence_number": " 13ab 00042 ",
    }
    data.update(changes)
    posted = {}
    for name, value in data.items():
        if isinstance(value, dt.date):
            posted.update(boxes(name, value))
        elif name.endswith("_date") and value is not None:
            posted.update(zip((f"{name}-day", f"{name}-month", f"{name}-year"), (value.split("/") + ["", ""])[:3]))
        elif value is not None:
            posted[name] = value
    return posted


@pytest.fixture
def centre(app):
    return make_centre()


@pytest.fixture
def admin(client, login_user, centre):
    member = make_member(centre)
    login_user(member)
    return member


def test_the_page_lists_nothing_yet_and_offers_the_form(client, admin):
    page = client.get(URL).get_data(as_text=True)
    assert "<h1>Mes formations déclarées</h1>" in page
    assert "Déclarer une formation" in page and "Aucune formation déclarée pour l'instant." in page
    assert 'href="/centre/formations"' in page  # the menu entry
    for label in ("FIMO", "FCO", "Passerelle", "Marchandises", "Voyageurs", "Date de début", "Date de fin", "Nom",
                  "Prénom(s)", "Date de naissance", "Numéro de permis de conduire"):
        assert label in page


def test_a_training_for_an_accepted_driver_is_attached_at_once_with_its_certificate(client, admin, centre, make_driver):
    driver = make_driver(state="active", last_name="Lefèvre", first_name="Éloïse", birth_date=BIRTH,
                         licence_number="13AB00042")
    response = client.post(URL, data=form())
    assert response.status_code == 302 and response.headers["Location"].endswith(URL)

    training = Training.get()
    assert (training.centre_id, training.recorded_by_id, training.kind, training.category) == (
        centre.id, admin.id, "FIMO", "Marchandises")
    assert training.licence_number == "13AB00042"  # upper-cased, spaces removed
    assert training.user_id == driver.id
    assert storage.read(training.summary_path).startswith(b"%PDF-")

    certificate = Certificate.get(Certificate.training == training)
    assert certificate.user_id == driver.id
    assert certificate.issued_on == training.end_date
    assert certificate.expires_on == deadlines.add_months(training.end_date, 4)
    assert storage.read(certificate.pdf_path).startswith(b"%PDF-")

    mail = last_email(driver.email)
    assert mail.subject == "Votre certificat de qualification"
    (attachment,) = json.loads(mail.attachments)
    assert attachment["path"] == certificate.pdf_path
    assert attachment["content_type"] == "application/pdf" and attachment["filename"].endswith(".pdf")
    assert storage.read(attachment["path"]).startswith(b"%PDF-")
    assert Notification.select().where(Notification.user == driver.id).exists()

    page = client.get(URL).get_data(as_text=True)
    assert "le récapitulatif est déposé sur son compte et son certificat de qualification lui est envoyé" in html.unescape(page)
    assert "FIMO Marchandises" in page and "LEFÈVRE Éloïse" in page and "13AB00042" in page
    assert "Rattachée au compte du conducteur" in page and "Certificat de qualification envoyé" in page


def test_a_training_for_a_driver_without_account_waits_and_is_attached_when_the_account_is_accepted(
    client, admin, make_driver, make_staff
):
    client.post(URL, data=form(kind="FCO"))
    training = Training.get()
    assert training.user_id is None and training.summary_path is None
    assert not Certificate.select().exists()
    page = client.get(URL).get_data(as_text=True)
    assert "En attente de création du compte du conducteur" in page
    assert "elle sera déposée sur le compte du conducteur dès sa création" in html.unescape(page)

    # Same licence number but another birth date: not this driver.
    other = make_driver(state="en_analyse", birth_date=dt.date(1985, 1, 2), licence_number="13AB00042",
                        email="homonyme@exemple.fr")
    driver = make_driver(state="en_analyse", last_name="Lefèvre", first_name="Éloïse", birth_date=BIRTH,
                         licence_number="13AB00042")
    assert Training.get_by_id(training.id).user_id is None  # an account under analysis gets nothing yet

    agent = make_staff(procedures=["COMPTE_PARTICULIER"])
    accounts.accept(Dossier.account_of(driver), agent)
    accounts.accept(Dossier.account_of(other), agent)

    training = Training.get_by_id(training.id)
    assert training.user_id == driver.id and training.summary_path
    certificate = Certificate.get(Certificate.training == training)
    assert certificate.user_id == driver.id
    assert certificate.expires_on == deadlines.add_months(training.end_date, 4)
    mails = [m for m in [last_email(driver.email)] if m.subject == "Votre certificat de qualification"]
    assert mails and json.loads(mails[0].attachments)[0]["path"] == certificate.pdf_path
    assert last_email(other.email).subject != "Votre certificat de qualification"
    assert "Rattachée au compte du conducteur" in client.get(URL).get_data(as_text=True)


def test_the_pdfs_are_made_once_the_acceptance_is_committed_and_a_failed_one_by_the_job(
    admin, client, runner, make_driver, make_staff, monkeypatch
):
    client.post(URL, data=form())
    driver = make_driver(state="en_analyse", birth_date=BIRTH, licence_number="13AB00042")
    from services import documents

    working = documents.summary_pdf
    in_transaction = []

    def broken(training):
        in_transaction.append(db.in_transaction())
        raise RuntimeError("wkhtmltopdf en panne")

    monkeypatch.setattr(documents, "summary_pdf", broken)
    accounts.accept(Dossier.account_of(driver), make_staff(procedures=["COMPTE_PARTICULIER"]))
    assert in_transaction == [False]  # the PDF is made after the commit, never while the acceptance holds its locks
    # The acceptance and the attachment stand; the PDFs, and the e-mail that carries them, wait for the job.
    assert Dossier.account_of(driver).state == AccountState.CONFORME
    training = Training.get()
    assert training.user_id == driver.id and training.summary_path is None
    assert Certificate.get().pdf_path is None
    assert last_email(driver.email).subject != "Votre certificat de qualification"

    monkeypatch.setattr(documents, "summary_pdf", working)
    assert "'published': 1" in runner.invoke(args=["jobs", "run-once", "certificates"]).output
    training = Training.get_by_id(training.id)
    certificate = Certificate.get()
    assert storage.read(training.summary_path).startswith(b"%PDF-") and storage.read(certificate.pdf_path).startswith(b"%PDF-")
    mail = last_email(driver.email)
    assert mail.subject == "Votre certificat de qualification"
    assert json.loads(mail.attachments)[0]["path"] == certificate.pdf_path
    assert "'published': 0" in runner.invoke(args=["jobs", "run-once", "certificates"]).output


def test_a_backlog_of_pdfs_is_made_a_bounded_number_per_run_the_oldest_first(app, make_driver, monkeypatch):
    from services import trainings
    from tests import driver_data

    centre = make_centre()
    driver_data.fast_pdfs(monkeypatch)
    pending = [record_for(centre, make_driver(state="active")) for _ in range(3)]
    Training.update(summary_path=None).execute()  # as if wkhtmltopdf had failed each time
    assert Training.select().where(Training.user.is_null(False), Training.summary_path.is_null()).count() == 3
    monkeypatch.setattr(trainings, "PUBLISH_PER_RUN", 2)
    assert trainings.publish_pending() == 2
    assert [t.id for t in Training.select().where(Training.summary_path.is_null())] == [pending[2].id]
    assert trainings.publish_pending() == 1 and trainings.publish_pending() == 0


def test_a_training_whose_pdf_fails_is_recorded_and_says_so(client, admin, make_driver, monkeypatch):
    make_driver(state="active", birth_date=BIRTH, licence_number="13AB00042")
    from services import documents

    def broken(training):
        raise RuntimeError("wkhtmltopdf en panne")

    monkeypatch.setattr(documents, "summary_pdf", broken)
    page = html.unescape(client.post(URL, data=form(), follow_redirects=True).get_data(as_text=True))
    training = Training.get()
    assert training.user_id is not None and training.summary_path is None
    assert "son récapitulatif sera déposé sur son compte dès qu'il sera produit" in page


def test_every_field_is_checked_in_french(client, admin):
    page = client.post(URL, data={}).get_data(as_text=True)
    assert not Training.select().exists()
    assert "8 erreurs dans le formulaire" in page
    assert errors_of(page, "kind") == ["Choisissez la formation : FIMO, FCO ou Passerelle."]
    assert errors_of(page, "category") == ["Choisissez « Marchandises » ou « Voyageurs »."]
    for name in ("start_date", "end_date", "last_name", "first_name", "birth_date", "licence_number"):
        assert errors_of(page, name) == ["Ce champ est obligatoire."], name
    assert "<details class=\"declare\" open>" in page  # the form stays open on its errors


@pytest.mark.parametrize("changes, field, message", [
    ({"licence_number": "13A00042"}, "licence_number", "Le numéro de permis comporte 9 caractères"),
    ({"licence_number": "94298137922"}, "licence_number", "Le numéro de permis comporte 9 caractères"),
    ({"birth_date": "31/02/1990"}, "birth_date", "Le 31/02/1990 n'existe pas : saisissez une date de naissance valide, par exemple 14 03 1985."),
    ({"birth_date": "01/01/2099"}, "birth_date", "La date de naissance doit être dans le passé."),
    ({"birth_date": "14/mars/1990"}, "birth_date", "Saisissez une date de naissance valide, par exemple 14 03 1985."),
    ({"end_date": dt.date(2020, 1, 1), "start_date": dt.date(2020, 2, 1)}, "end_date", "La date de fin ne peut pas précéder la date de début."),
    ({"end_date": dt.date.today() + dt.timedelta(days=3)}, "end_date", "La date de fin ne peut pas être dans le futur"),
    ({"start_date": "01/02/1024"}, "start_date", "Vérifiez l'année : saisissez-la en 4 chiffres, à partir de 1900, par exemple 02 09 2024."),
    ({"kind": "CACES"}, "kind", "Choisissez la formation : FIMO, FCO ou Passerelle."),
])
def test_a_wrong_value_is_refused_with_its_reason_and_what_was_typed_is_kept(client, admin, changes, field, message):
    page = client.post(URL, data=form(**changes)).get_data(as_text=True)
    assert not Training.select().exists()
    assert any(e.startswith(message) for e in errors_of(page, field)), errors_of(page, field)
    assert 'value="Lefèvre"' in page  # nothing typed is lost


def test_both_licence_formats_are_accepted(client, admin):
    client.post(URL, data=form(licence_number="9429 8137 9228"))
    assert Training.get().licence_number == "942981379228"


def test_a_category_the_centre_is_not_approved_for_is_refused(client, admin):
    page = client.post(URL, data=form(category="Voyageurs")).get_data(as_text=True)
    assert not Training.select().exists()
    assert errors_of(page, "category") == [
        "Votre centre n'est pas agréé pour les formations « Voyageurs » : vos agréments couvrent « Marchandises »."
    ]


def test_a_training_the_approval_does_not_cover_is_refused(client, login_user):
    centre = make_centre(siret="40073444800477", categories=("Voyageurs",), kinds="FCO")
    login_user(make_member(centre))
    page = client.post(URL, data=form(category="Voyageurs", kind="FIMO")).get_data(as_text=True)
    assert not Training.select().exists()
    assert errors_of(page, "category") == [
        "Votre agrément « Voyageurs » ne couvre pas la formation FIMO (formations agréées : FCO)."
    ]
    client.post(URL, data=form(category="Voyageurs", kind="FCO"))
    assert Training.get().title == "FCO Voyageurs"


def test_a_deputy_administrator_records_too(client, login_user, centre):
    login_user(make_member(centre, role=Role.ORG_DEPUTY))
    assert client.post(URL, data=form()).status_code == 302
    assert Training.select().count() == 1


def test_the_list_shows_only_this_centre_searches_and_pages(client, admin, centre, monkeypatch):
    from public_forms import centre as centre_pages
    from services import trainings

    monkeypatch.setattr(centre_pages, "PAGE_SIZE", 5)
    other = make_centre(siret="40073444800477", name="CFA Lyon")
    end = clock.today() - dt.timedelta(days=1)
    common = {"kind": "FCO", "category": "Marchandises", "start_date": end - dt.timedelta(days=5), "end_date": end,
              "first_name": "Jean", "birth_date": BIRTH}
    for n in range(7):
        trainings.record(centre, admin, last_name=f"Conducteur{n}", licence_number=f"13AA{n:05d}", **common)
    trainings.record(other, None, last_name="Ailleurs", licence_number="13ZZ00001", **common)

    page = client.get(URL).get_data(as_text=True)
    assert "Ailleurs" not in page
    assert "(7)" in page and "Page 1 sur 2" in page
    assert page.count("<tr>") == 1 + 5
    second = client.get(URL + "?page=2").get_data(as_text=True)
    assert second.count("<tr>") == 1 + 2 and "CONDUCTEUR0" in second

    by_name = client.get(URL + "?q=conducteur3").get_data(as_text=True)
    assert "CONDUCTEUR3" in by_name and "CONDUCTEUR4" not in by_name
    by_licence = client.get(URL + "?q=13aa 00005").get_data(as_text=True)
    assert "CONDUCTEUR5" in by_licence and by_licence.count("<tr>") == 2
    assert "Aucune formation ne correspond à « Ailleurs »" in html.unescape(client.get(URL + "?q=Ailleurs").get_data(as_text=True))


def test_a_centre_manager_records_trainings_too(client, login_user, centre):
    """Guide 000 / issue 8: a centre's managers record its trainings (they see « Mes formations déclarées »)."""
    manager = make_member(centre, role=Role.ORG_MANAGER)
    login_user(manager)
    assert "Mes formations déclarées" in client.get("/").get_data(as_text=True)
    assert client.post(URL, data=form()).status_code == 302
    assert Training.get().recorded_by_id == manager.id


@pytest.mark.parametrize("who", ["company_admin", "company_manager", "driver", "staff"])
def test_only_centre_members_reach_the_page(client, login_user, login_staff, make_driver, make_staff, centre, who):
    if who.startswith("company"):
        company = Organisation.create(kind=OrgKind.COMPANY, siret="82345678500026", name="Transports Martin")
        login_user(make_member(company, role=Role.ORG_ADMIN if who == "company_admin" else Role.ORG_MANAGER))
    elif who == "driver":
        login_user(make_driver(state="active"))
    else:
        login_staff(make_staff(role="local_admin", manages_files=True))
    assert client.get(URL).status_code == 403
    assert client.post(URL, data=form()).status_code == 403
    assert not Training.select().exists()


def test_an_anonymous_visitor_is_sent_to_the_login(client):
    response = client.get(URL)
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_the_menu_shows_the_page_to_centre_members_only(client, login_user, centre, make_driver):
    login_user(make_member(centre))
    assert "Mes formations déclarées" in client.get("/").get_data(as_text=True)
    client.post("/deconnexion")
    login_user(make_driver(state="active"))
    assert "Mes formations déclarées" not in client.get("/").get_data(as_text=True)


def test_a_date_left_empty_is_required_and_an_unreadable_one_is_invalid(client, admin):
    page = client.post(URL, data=form(start_date="", end_date="32/13/2023")).get_data(as_text=True)
    assert errors_of(page, "start_date") == ["Ce champ est obligatoire."]
    assert errors_of(page, "end_date") == [
        "Le 32/13/2023 n'existe pas : saisissez une date de fin valide, par exemple 27 09 2024."]
    assert 'name="end_date-day" value="32"' in page and 'name="end_date-month" value="13"' in page
