"""Guide 001 « Je crée mon compte » and the staff analysis « Comptes à analyser » (issue 2, item 3)."""
import datetime as dt
import html
import re

import pytest

from models import (
    AccountState,
    Anomaly,
    AuditLog,
    Consent,
    Dossier,
    DossierEvent,
    Driver,
    StaffRole,
    User,
)
from models import clock
from services import accounts
from tests.conftest import driver_form, last_email, outbox_links, path_of

URL = "/creer-un-compte/particulier"
BOXES = ("day", "month", "year")


def test_the_form_shows_four_consent_boxes_and_the_licence_aid(client):
    page = client.get("/creer-un-compte/particulier").get_data(as_text=True)
    assert page.count('type="checkbox"') == 4
    assert "Numéro de permis de conduire" in page and "13AA00002" in page and "942981379228" in page
    assert "Créer" in page


def test_the_consent_list_is_configurable(app, client):
    app.config["DRIVER_CONSENTS"] = app.config["DRIVER_CONSENTS"][:3]
    assert client.get("/creer-un-compte/particulier").get_data(as_text=True).count('type="checkbox"') == 3


def test_creating_an_account_sends_it_to_analysis(client):
    response = client.post("/creer-un-compte/particulier", data=driver_form(email=" Anne.Martin@Exemple.fr "))
    page = response.get_data(as_text=True)
    assert "envoyées pour analyse" in page and "24 h" in page
    user = User.get(User.email == "anne.martin@exemple.fr")
    driver = user.driver
    assert driver.licence_number == "13AA00002" and driver.mobile == "+33612345678"
    dossier = Dossier.account_of(user)
    assert dossier.state == AccountState.EN_ANALYSE
    assert [h.event for h in dossier.history] == ["create"]
    assert Consent.select().where(Consent.user == user).count() == 4
    assert "bien été reçue" in last_email(user.email).body_text


@pytest.mark.parametrize("typed, stored", [("13aa 00002", "13AA00002"), ("9429 8137 9228", "942981379228")])
def test_both_licence_formats_are_accepted(client, typed, stored):
    client.post("/creer-un-compte/particulier", data=driver_form(licence_number=typed))
    assert Driver.get().licence_number == stored


@pytest.mark.parametrize("field, value, message", [
    ("licence_number", "12345", "9 caractères"),
    ("email_confirm", "autre@exemple.fr", "ne sont pas identiques"),
    ("email", "pas-une-adresse", "Adresse électronique invalide"),
    ("postal_code", "5900", "5 chiffres"),
    ("mobile", "0123", "mobile invalide"),
    ("consent_cgv", None, "obligatoire"),
    ("last_name", "", "obligatoire"),
])
def test_bad_input_is_explained_next_to_the_field_and_nothing_typed_is_lost(client, field, value, message):
    form = driver_form(**{field: value})
    response = client.post("/creer-un-compte/particulier", data=form)
    page = response.get_data(as_text=True)
    assert message in page
    assert f'id="field-{field}"' not in page or 'class="field has-error" id="field-' + field + '"' in page
    assert 'value="Lille"' in page and 'value="12 rue des Lilas"' in page
    assert User.select().count() == 0


def test_an_error_is_summed_up_at_the_top_and_tied_to_its_field(client):
    page = client.post(URL, data=driver_form(email_confirm="autre@exemple.fr", postal_code="5900")).get_data(as_text=True)
    summary = re.search(r'<div class="error-summary"[^>]*>(.*?)</div>', page, re.S)
    assert 'role="alert" tabindex="-1" autofocus' in summary.group(0)
    assert "2 erreurs dans le formulaire" in summary.group(1)
    assert '<a href="#postal_code">Code postal : Le code postal comporte 5 chiffres.</a>' in summary.group(1)
    assert 'href="#email_confirm"' in summary.group(1)
    confirm = re.search(r'<input[^>]*id="email_confirm"[^>]*>', page).group(0)
    assert 'aria-invalid="true"' in confirm and 'aria-describedby="email_confirm-error"' in confirm
    assert '<p class="error" id="email_confirm-error">Les deux adresses électroniques ne sont pas identiques.</p>' in page
    assert 'src="/static/js/errors.js"' in page
    assert "<title>Erreur : " in page


def test_the_hints_and_the_licence_aid_describe_their_fields(client):
    page = client.get(URL).get_data(as_text=True)
    licence = re.search(r'<input[^>]*id="licence_number"[^>]*>', page).group(0)
    assert 'aria-describedby="licence_number-hint licence-aid"' in licence
    assert 'id="licence-aid"' in page and 'id="licence_number-hint"' in page
    mobile = re.search(r'<input[^>]*id="mobile"[^>]*>', page).group(0)
    assert 'aria-describedby="mobile-hint"' in mobile and 'aria-invalid' not in mobile
    assert "error-summary" not in page


# --- The birth date, typed the French way (issue 12) ---------------------------------------------


def birth(day, month, year):
    """Return « Date de naissance » as a browser posts its three boxes."""
    return {"birth_date-day": day, "birth_date-month": month, "birth_date-year": year}


def box(page, name):
    return re.search(rf'<input[^>]*id="birth_date-{name}"[^>]*>', page).group(0)


def test_the_birth_date_is_three_numeric_boxes_in_a_fieldset(client):
    page = client.get(URL).get_data(as_text=True)
    group = re.search(r'<fieldset class="field date" id="field-birth_date"([^>]*)>(.*?)</fieldset>', page, re.S)
    assert group.group(1) == ' aria-describedby="birth_date-hint"'
    assert "<legend>Date de naissance <span class=\"required\">*</span></legend>" in group.group(2)
    assert '<p class="hint" id="birth_date-hint">Par exemple : 14 03 1985</p>' in group.group(2)
    for name, label, size in (("day", "Jour", 2), ("month", "Mois", 2), ("year", "Année", 4)):
        assert f'<label for="birth_date-{name}">{label}</label>' in group.group(2)
        tag = box(page, name)
        for attribute in (f'name="birth_date-{name}"', 'type="text"', 'inputmode="numeric"', f'maxlength="{size}"',
                          f'autocomplete="bday-{name}"', 'value=""'):
            assert attribute in tag, (attribute, tag)
    assert 'type="date"' not in page


@pytest.mark.parametrize("boxes, stored", [
    (("14", "03", "1985"), dt.date(1985, 3, 14)),
    (("4", "3", "1985"), dt.date(1985, 3, 4)),
    ((" 19 ", "08 ", "1991"), dt.date(1991, 8, 19)),
    (("29", "02", "1988"), dt.date(1988, 2, 29)),
])
def test_a_birth_date_typed_day_first_is_stored_as_that_date(client, boxes, stored):
    client.post(URL, data=driver_form(**birth(*boxes)))
    assert Driver.get().birth_date == stored


def _future():
    tomorrow = clock.today() + dt.timedelta(days=1)
    return (str(tomorrow.day), str(tomorrow.month), str(tomorrow.year))


@pytest.mark.parametrize("boxes, message, wrong", [
    (("31", "02", "1985"), "Le 31/02/1985 n'existe pas : saisissez une date de naissance valide, par exemple 14 03 1985.",
     {"day", "month"}),
    (("29", "02", "1985"), "Le 29/02/1985 n'existe pas : saisissez une date de naissance valide, par exemple 14 03 1985.",
     {"day", "month"}),
    (("03", "14", "1985"), "Le 03/14/1985 n'existe pas : saisissez une date de naissance valide, par exemple 14 03 1985.",
     {"month"}),
    (("1a", "03", "1985"), "Saisissez une date de naissance valide, par exemple 14 03 1985.", {"day"}),
    (("quatorze", "mars", "1985"), "Saisissez une date de naissance valide, par exemple 14 03 1985.", {"day", "month"}),
    (("١٤", "03", "1985"), "Saisissez une date de naissance valide, par exemple 14 03 1985.", {"day"}),
    (("14", "03", ""), "La date de naissance doit comporter une année, par exemple 14 03 1985.", {"year"}),
    (("", "", "1985"), "La date de naissance doit comporter un jour et un mois, par exemple 14 03 1985.", {"day", "month"}),
    (("14", "03", "85"), "Vérifiez l'année : saisissez-la en 4 chiffres, à partir de 1900, par exemple 14 03 1985.",
     {"year"}),
    (("14", "03", "0985"), "Vérifiez l'année : saisissez-la en 4 chiffres, à partir de 1900, par exemple 14 03 1985.",
     {"year"}),
    (_future(), "La date de naissance doit être dans le passé.", set(BOXES)),
    (("14", "03", "2090"), "La date de naissance doit être dans le passé.", set(BOXES)),
    (("14", "03", str(clock.today().year - 5)), "Vérifiez la date de naissance : un conducteur a au moins 16 ans.",
     set(BOXES)),
    (("01", "01", "1901"), f"Vérifiez l'année de naissance : elle ne peut pas être antérieure à {clock.today().year - 100}.",
     set(BOXES)),
    (("", "", ""), "Ce champ est obligatoire.", set(BOXES)),
    (("1\x01", "03", "1985"), "Ce champ contient des caractères non autorisés.", {"day"}),
])
def test_a_wrong_birth_date_is_explained_in_french_and_what_was_typed_stays(client, boxes, message, wrong):
    response = client.post(URL, data=driver_form(**birth(*boxes)))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and not User.select().exists()
    assert re.findall(r'<p class="error" id="birth_date-error">(.*?)</p>', html.unescape(page)) == [message]
    for name, typed in zip(BOXES, boxes):
        assert f'value="{html.escape(typed)}"' in box(page, name)
        assert ('aria-invalid="true"' in box(page, name)) == (name in wrong), name
        assert ('aria-describedby="birth_date-error"' in box(page, name)) == (name in wrong), name
    assert 'id="field-birth_date" aria-describedby="birth_date-hint birth_date-error"' in page
    first = next(name for name in BOXES if name in wrong)
    assert f'<a href="#birth_date-{first}">Date de naissance : {message}</a>' in html.unescape(page)
    assert 'value="Lille"' in page and 'value="12 rue des Lilas"' in page and 'value="13AA00002"' in page


def test_a_date_in_one_value_is_still_read_day_first(client):
    """A single value (a script, a CSV line) is read as JJ/MM/AAAA or AAAA-MM-JJ, never month first."""
    data = driver_form(**birth(None, None, None), birth_date="03/12/1985")
    client.post(URL, data=data)
    assert Driver.get().birth_date == dt.date(1985, 12, 3)


def test_a_flagged_birth_date_is_corrected_in_its_three_boxes(client, app, make_driver, analyst):
    driver = make_driver(birth_date=dt.date(1991, 8, 19))
    accounts.reject(Dossier.account_of(driver), analyst, {"birth_date": "Jour et mois inversés"})
    link = path_of(outbox_links(last_email(driver.email))[0])
    public = app.test_client()
    page = public.get(link).get_data(as_text=True)
    assert [re.search(r'value="([^"]*)"', box(page, name)).group(1) for name in BOXES] == ["19", "08", "1991"]
    refused = public.post(link, data=birth("31", "04", "1991")).get_data(as_text=True)
    assert "Le 31/04/1991 n'existe pas" in html.unescape(refused) and 'value="31"' in box(refused, "day")
    public.post(link, data=birth("08", "09", "1991"))
    assert Driver.get(Driver.user == driver).birth_date == dt.date(1991, 9, 8)


def test_an_address_already_used_is_refused(client, make_driver, make_staff):
    make_driver(email="anne.martin@exemple.fr")
    page = client.post("/creer-un-compte/particulier", data=driver_form(email="ANNE.martin@exemple.fr", email_confirm="anne.martin@exemple.fr")).get_data(as_text=True)
    assert "déjà associée à un compte" in page
    # A staff address is never revealed by a public form: the portal and the back office are separate spaces.
    make_staff(email="agent@ingroupe.fr")
    page = client.post("/creer-un-compte/particulier", data=driver_form(email="agent@ingroupe.fr", email_confirm="agent@ingroupe.fr")).get_data(as_text=True)
    assert "déjà associée à un compte" not in page and "Votre demande de création de compte" in page


# --- The analysis --------------------------------------------------------------------------------


@pytest.fixture
def analyst(make_staff, login_staff):
    member = make_staff(procedures=["COMPTE_PARTICULIER"])
    login_staff(member)
    return member


def test_the_queue_lists_the_oldest_first_and_flags_those_over_24_hours(client, make_driver, analyst, clock):
    make_driver(last_name="Ancien")
    clock.advance(hours=25)
    make_driver(last_name="Recent")
    page = client.get("/admin/account_queue/").get_data(as_text=True)
    assert page.index("ANCIEN") < page.index("RECENT")
    assert page.count('<span class="badge badge-danger">En retard') == 1


def test_conforme_sends_the_create_password_link(client, make_driver, analyst):
    driver = make_driver()
    dossier = Dossier.account_of(driver)
    response = client.post(f"/admin/account_queue/analyse/{dossier.id}", data={"decision": "conforme"})
    assert response.status_code == 302
    dossier = Dossier.get_by_id(dossier.id)
    assert dossier.state == AccountState.CONFORME
    step = dossier.history.order_by(DossierEvent.id.desc()).first()
    assert (step.staff_id, step.from_state, step.to_state) == (analyst.id, "en_analyse", "conforme")
    mail = last_email(driver.email)
    assert "Créer mon mot de passe" in mail.body_text and "/mot-de-passe/" in mail.body_text
    assert AuditLog.select().where(AuditLog.action == "Compte déclaré conforme", AuditLog.staff == analyst).exists()


def test_non_conforme_then_correction_then_conforme(client, app, make_driver, analyst):
    driver = make_driver(licence_number="13AA00009", city="Lile")
    dossier = Dossier.account_of(driver)
    client.post(f"/admin/account_queue/analyse/{dossier.id}", data={
        "decision": "non_conforme",
        "field_licence_number": "1", "reason_licence_number": "Ne correspond pas au permis",
        "field_city": "1", "reason_city": "Commune mal orthographiée",
    })
    assert Dossier.get_by_id(dossier.id).state == AccountState.A_CORRIGER
    mail = last_email(driver.email)
    assert "Ne correspond pas au permis" in mail.body_text and "Commune mal orthographiée" in mail.body_text
    link = path_of(outbox_links(mail)[0])

    public = app.test_client()
    page = public.get(link).get_data(as_text=True)
    assert "Ne correspond pas au permis" in page
    assert 'name="licence_number"' in page and 'name="city"' in page
    assert 'name="last_name"' not in page and 'name="address"' not in page
    refused = public.post(link, data={"licence_number": "abc", "city": "Lille"}).get_data(as_text=True)
    assert "9 caractères" in refused and 'value="Lille"' in refused
    public.post(link, data={"licence_number": "13AA00002", "city": "Lille"})
    dossier = Dossier.get_by_id(dossier.id)
    assert dossier.state == AccountState.EN_ANALYSE
    assert Driver.get(Driver.user == driver).licence_number == "13AA00002"
    changes = {a.field: (a.old_value, a.new_value) for a in Anomaly.select()}
    assert changes == {"licence_number": ("13AA00009", "13AA00002"), "city": ("Lile", "Lille")}
    assert public.get(link).status_code == 410  # the correction link worked once

    staff_page = client.get(f"/admin/account_queue/analyse/{dossier.id}").get_data(as_text=True)
    assert "Ce que le titulaire a corrigé" in staff_page and "13AA00009" in staff_page and "13AA00002" in staff_page
    client.post(f"/admin/account_queue/analyse/{dossier.id}", data={"decision": "conforme"})
    assert Dossier.get_by_id(dossier.id).state == AccountState.CONFORME
    events = [h.event for h in Dossier.get_by_id(dossier.id).history.order_by(DossierEvent.id)]
    assert events == ["create", "reject", "resubmit", "accept"]


def test_non_conforme_needs_a_reason_for_each_field(client, make_driver, analyst):
    dossier = Dossier.account_of(make_driver())
    page = client.post(f"/admin/account_queue/analyse/{dossier.id}", data={
        "decision": "non_conforme", "field_city": "1", "reason_city": "", "field_address": "1", "reason_address": "Incomplète",
    }).get_data(as_text=True)
    assert "la raison pour chacun" in page
    assert 'value="Incomplète"' in page  # what staff typed is kept
    assert Dossier.get_by_id(dossier.id).state == AccountState.EN_ANALYSE
    assert Anomaly.select().count() == 0


def test_a_decided_account_cannot_be_decided_again(client, make_driver, analyst):
    dossier = Dossier.account_of(make_driver())
    client.post(f"/admin/account_queue/analyse/{dossier.id}", data={"decision": "conforme"})
    page = client.post(f"/admin/account_queue/analyse/{dossier.id}", data={"decision": "conforme"}).get_data(as_text=True)
    assert "Impossible de déclarer conforme" in page
    assert Dossier.get_by_id(dossier.id).history.count() == 2


def test_an_agent_without_the_habilitation_is_refused(client, make_driver, make_staff, login_staff):
    dossier = Dossier.account_of(make_driver())
    login_staff(make_staff(procedures=["CQC"]))
    assert client.get("/admin/account_queue/").get_data(as_text=True).count("MARTIN") == 0
    assert client.get(f"/admin/account_queue/analyse/{dossier.id}").status_code == 404
    assert client.post(f"/admin/account_queue/analyse/{dossier.id}", data={"decision": "conforme"}).status_code == 404
    assert Dossier.get_by_id(dossier.id).state == AccountState.EN_ANALYSE


def test_a_local_admin_sees_every_file_but_processes_only_with_the_role(client, make_driver, make_staff, login_staff):
    dossier = Dossier.account_of(make_driver())
    admin = make_staff(role=StaffRole.LOCAL_ADMIN)
    login_staff(admin)
    page = client.get(f"/admin/account_queue/analyse/{dossier.id}").get_data(as_text=True)
    assert "Gestion des télédossiers" in page and "Conforme</button>" not in page
    assert client.post(f"/admin/account_queue/analyse/{dossier.id}", data={"decision": "conforme"}).status_code == 403
    client.post("/admin/gestion-des-teledossiers", data={"enable": "1"})
    assert client.post(f"/admin/account_queue/analyse/{dossier.id}", data={"decision": "conforme"}).status_code == 302
    assert Dossier.get_by_id(dossier.id).state == AccountState.CONFORME


def test_search_finds_an_account_by_licence_or_email(client, make_driver, analyst):
    make_driver(licence_number="77ZZ12345", last_name="Durand")
    make_driver(last_name="Bernard")
    page = client.get("/admin/all_accounts/?search=77zz").get_data(as_text=True)
    assert "DURAND" in page and "BERNARD" not in page


def test_the_driver_sees_the_account_once_active(client, make_driver, login_user):
    driver = make_driver(state="active")
    login_user(driver)
    page = client.get("/mon-compte").get_data(as_text=True)
    assert driver.driver.licence_number in page and "non modifiable" in page


def test_register_driver_refuses_a_duplicate_address_even_in_a_race(app, make_driver):
    make_driver(email="double@exemple.fr")
    identity = {"email": "double@exemple.fr", "last_name": "X", "first_name": "Y"}
    with pytest.raises(accounts.Refused):
        accounts.register_driver(identity, [])
