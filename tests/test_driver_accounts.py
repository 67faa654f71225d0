"""Guide 001 « Je crée mon compte » and the staff analysis « Comptes à analyser » (issue 2, item 3)."""
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
from services import accounts
from tests.conftest import driver_form, last_email, outbox_links, path_of


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
    ("birth_date", "2090-01-01", "dans le passé"),
    ("birth_date", "31/02/1990", "JJ/MM/AAAA"),
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
    assert page.count("En retard") == 1


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
