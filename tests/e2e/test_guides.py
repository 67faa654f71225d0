"""The user guides followed in a real browser, with links read only from the e-mails actually received.

Guide 002: a training centre creates its administrator account from the « Agrément CFA » e-mail.
Guide 001: a driver creates an account (« Particulier »), corrects it after a « Non conforme » analysis,
then creates a password and logs in.
"""
import datetime as dt
import os
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CHROMIUM, TEST_PASSWORD, link_in, only_email, open_menu
from tests.e2e.dates import date_group, fill_date

if not os.path.exists(CHROMIUM):
    pytest.skip(f"Chromium absent ({CHROMIUM}) : tests de bout en bout ignorés.", allow_module_level=True)

HOME_TITLE = "Bienvenue sur le portail Hub Pro Transport"


def field(page, label):
    """The input a label names, as a person reads it (the « * » of a required field is optional)."""
    return page.get_by_label(re.compile(r"^" + re.escape(label) + r"( \*)?$"))


def staff_login(page, email):
    page.goto("/admin/connexion")
    page.get_by_label("Adresse électronique").fill(email)
    page.get_by_label("Mot de passe").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Connexion").click()
    expect(page.get_by_role("button", name="Déconnexion")).to_be_visible()


def create_password_from(page, mail, password):
    """Follow « Créer mon mot de passe » from an e-mail up to the password form, and set the password."""
    page.goto(link_in(mail, after="Créer mon mot de passe"))
    expect(page.get_by_role("heading", name="Personnalisation de votre mot de passe")).to_be_visible()
    page.get_by_role("link", name="Cliquer ici pour continuer").click()
    expect(page.get_by_role("heading", name="Je personnalise mon mot de passe")).to_be_visible()
    field(page, "Mot de passe").fill(password)
    field(page, "Confirmation du mot de passe").fill(password)
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", name="Votre mot de passe est enregistré")).to_be_visible()


def public_login(page, email, password):
    field(page, "Adresse électronique").fill(email)
    field(page, "Mot de passe").fill(password)
    page.get_by_role("button", name="Connexion").click()


def expect_logged_in_home(page, full_name):
    expect(page.get_by_role("heading", name=HOME_TITLE)).to_be_visible()
    expect(page.get_by_role("heading", name="Mes notifications")).to_be_visible()
    expect(page.get_by_role("button", name="Déconnexion")).to_be_visible()
    expect(page.get_by_text(full_name, exact=True)).to_be_visible()


# --- Guide 002 ---------------------------------------------------------------------------------


def test_guide_002_centre_de_formation(live, new_page, deliver):
    from models import Staff, StaffRole
    from services import demo, passwords, sirene

    with live.database():
        Staff.create(
            email="admin.local@ingroupe.fr",
            role=StaffRole.LOCAL_ADMIN,
            first_name="Alice",
            last_name="Admin",
            password_hash=passwords.hash_password(TEST_PASSWORD),
        )
        with open(demo.SAMPLE_CSV, encoding="utf-8") as handle:
            sirene.load_csv(handle)

    # The DREAL's approval, recorded by staff in « Référentiels » → « Agréments » → « Créer ».
    staff = new_page()
    staff_login(staff, "admin.local@ingroupe.fr")
    open_menu(staff, "Référentiels", "Agréments")
    staff.get_by_role("link", name="Créer", exact=True).click()
    staff.get_by_label("Numéro de SIRET").fill("40073444800477")
    staff.get_by_label("Numéro d'agrément").fill("69-2021-0042")
    staff.get_by_label("Type").select_option("Voyageurs")
    expect(staff.get_by_label("Formations agréées")).to_have_values(["FIMO", "Passerelle", "FCO"])
    staff.get_by_label("Adresse électronique du centre").fill("cfa-lyon@exemple.fr")
    staff.get_by_label("Date de l'agrément").fill("2021-12-28")
    staff.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(staff.get_by_text("Agrément enregistré : la notification « Agrément CFA » est envoyée à cfa-lyon@exemple.fr.")).to_be_visible()

    # Solution 1: the « Agrément CFA » e-mail and its link to the account form.
    mail = only_email(deliver(), "cfa-lyon@exemple.fr", "Agrément CFA")
    assert "SIRET n°40073444800477" in mail["text"]
    assert "agréé pour le type Voyageurs" in mail["text"]
    for training in ("FIMO Voyageurs", "Passerelle Voyageurs", "FCO Voyageurs"):
        assert f"- {training}" in mail["text"]
    link = link_in(mail)
    assert link.startswith(live.url + "/")

    centre = new_page()
    centre.goto(link)
    expect(centre.get_by_role("heading", name="CQC - Centre de Formation Agréé")).to_be_visible()
    siret = field(centre, "Numéro de SIRET")
    organisation_name = field(centre, "Nom de l'organisme")
    expect(siret).to_have_value("40073444800477")
    expect(organisation_name).to_have_value("CFA TRANSPORT VOYAGEURS")

    # The SIRET is checked as it is typed: a typo, then a centre without approval, then the right one.
    siret_block = centre.locator(".field").filter(has=siret)
    siret.fill("40073444800478")
    expect(siret_block.get_by_text("Ce numéro de SIRET n'est pas valide : vérifiez sa saisie (clé de contrôle incorrecte).")).to_be_visible()
    expect(organisation_name).to_have_value("")
    siret.fill("477 280 846 03753")
    expect(siret_block.get_by_text("Aucun agrément n'est enregistré pour ce SIRET")).to_be_visible()
    expect(organisation_name).to_have_value("")
    siret.fill("400 734 448 00477")
    expect(siret_block.get_by_text("SIRET vérifié : établissement actif et éligible.")).to_be_visible()
    expect(organisation_name).to_have_value("CFA TRANSPORT VOYAGEURS")

    field(centre, "Nom").fill("Durand")
    field(centre, "Prénom").fill("Claire")
    field(centre, "Adresse électronique").fill("cfa-lyon@exemple.fr")
    field(centre, "Confirmer votre adresse électronique").fill("cfa-lyon@exemple.fr")
    for words in ("(CGU)", "(RGPD)", "(CGV)"):
        centre.get_by_label(words).check()
    centre.get_by_role("button", name="CRÉER").click()
    expect(centre.get_by_role("heading", name="Votre compte a bien été créé.")).to_be_visible()
    expect(centre.get_by_text("cfa-lyon@exemple.fr")).to_be_visible()
    expect(centre.get_by_role("link", name="SE CONNECTER", exact=True)).to_be_visible()

    # « Créer mon mot de passe » → « Cliquer ici pour continuer » → the password form.
    mail = only_email(deliver(), "cfa-lyon@exemple.fr", "Créez votre mot de passe Hub Pro Transport")
    centre.goto(link_in(mail, after="Créer mon mot de passe"))
    centre.get_by_role("link", name="Cliquer ici pour continuer").click()
    expect(centre.get_by_role("heading", name="Je personnalise mon mot de passe")).to_be_visible()
    password = field(centre, "Mot de passe")
    confirm = field(centre, "Confirmation du mot de passe")
    validate = centre.get_by_role("button", name="Valider")
    match_rule = centre.get_by_role("list", name="Règles du mot de passe").get_by_role("listitem").filter(
        has_text="Les deux mots de passe sont identiques")
    password.fill("Transport-Lyon-2024!")
    confirm.fill("Transport-Lyon-2024?")
    expect(match_rule).to_have_text("Les deux mots de passe sont identiques : non respecté")
    expect(validate).to_be_enabled()  # « Valider » always answers, with the reason when something is wrong
    validate.click()
    expect(centre.get_by_role("alert")).to_contain_text("1 erreur dans le formulaire")
    expect(confirm).to_have_attribute("aria-invalid", "true")
    expect(confirm).to_have_accessible_description("Les deux mots de passe ne sont pas identiques.")
    password.fill("Transport-Lyon-2024!")
    confirm.fill("Transport-Lyon-2024!")
    expect(match_rule).to_have_text("Les deux mots de passe sont identiques : respecté")
    eye = centre.get_by_role("button", name="Afficher le mot de passe").first
    expect(eye).to_have_attribute("aria-pressed", "false")
    eye.click()
    expect(password).to_have_attribute("type", "text")
    eye = centre.get_by_role("button", name="Masquer le mot de passe").first
    expect(eye).to_have_attribute("aria-pressed", "true")
    expect(eye).to_have_attribute("title", "Masquer le mot de passe")

    password.fill("TransportLyon2024")
    confirm.fill("TransportLyon2024")
    expect(validate).to_be_enabled()
    validate.click()
    expect(centre.get_by_text("Le mot de passe doit contenir un caractère spécial.", exact=True)).to_be_visible()
    expect(centre.get_by_role("heading", name="Je personnalise mon mot de passe")).to_be_visible()

    password.fill("Transport-Lyon-2024!")
    confirm.fill("Transport-Lyon-2024!")
    validate.click()
    expect(centre.get_by_role("heading", name="Votre mot de passe est enregistré")).to_be_visible()
    centre.get_by_role("link", name="Revenir à l'application").click()
    expect(centre.get_by_role("heading", name="Je me connecte")).to_be_visible()
    public_login(centre, "cfa-lyon@exemple.fr", "Transport-Lyon-2024!")
    expect_logged_in_home(centre, "Claire DURAND")


# --- Guide 001 ---------------------------------------------------------------------------------


def test_guide_001_particulier(live, new_page, deliver):
    from models import Habilitation, Procedure, Staff, StaffRole
    from services import passwords

    with live.database():
        agent = Staff.create(
            email="agent.analyse@ingroupe.fr",
            role=StaffRole.AGENT,
            first_name="Bruno",
            last_name="Agent",
            password_hash=passwords.hash_password(TEST_PASSWORD),
        )
        Habilitation.create(staff=agent, procedure=Procedure.by_code("COMPTE_PARTICULIER"))

    # « Créer un compte » → « Particulier » → the form.
    driver = new_page()
    driver.goto("/")
    driver.get_by_role("link", name="Créer un compte").first.click()
    driver.get_by_role("link", name="Particulier").click()
    expect(driver.get_by_role("heading", name="Créez votre compte")).to_be_visible()

    field(driver, "Nom").fill("Martin")
    field(driver, "Prénom(s)").fill("Paul")
    fill_date(driver, "Date de naissance", dt.date(1991, 8, 19))
    field(driver, "Commune de naissance").fill("Lille")
    expect(field(driver, "Pays de naissance")).to_have_value("France")

    licence = field(driver, "Numéro de permis de conduire")
    aid = driver.get_by_role("note")
    expect(aid).to_be_hidden()
    licence.click()
    expect(aid).to_be_visible()
    expect(aid).to_contain_text("Aide à la saisie – permis de conduire obtenu en France.")
    licence.press_sequentially("13aa 00002")
    expect(licence).to_have_value("13AA 00002")

    field(driver, "Téléphone mobile").fill("06 12 34 56 78")
    field(driver, "Adresse").fill("12 rue des Lilas")
    field(driver, "Code postal").fill("59000")
    field(driver, "Commune").fill("Lille")
    field(driver, "Adresse électronique").fill("paul.martin@exemple.fr")
    field(driver, "Confirmer l'adresse électronique").fill("paul.martin@exemple.com")
    driver.get_by_role("button", name="Créer", exact=True).click()

    # The error is summed up at the top, where the focus goes, and shows next to the confirmation; what was typed
    # is kept.
    summary = driver.get_by_role("alert")
    expect(summary).to_contain_text("5 erreurs dans le formulaire")
    expect(summary.get_by_role("link", name="Confirmer l'adresse électronique : Les deux adresses")).to_be_visible()
    expect(summary).to_be_focused()
    confirm = field(driver, "Confirmer l'adresse électronique")
    expect(confirm).to_have_attribute("aria-invalid", "true")
    expect(confirm).to_have_accessible_description("Les deux adresses électroniques ne sont pas identiques.")
    expect(driver.locator(".field").filter(has=confirm).get_by_text("Les deux adresses électroniques ne sont pas identiques.")).to_be_visible()
    expect(field(driver, "Nom")).to_have_value("Martin")
    expect(field(driver, "Prénom(s)")).to_have_value("Paul")
    for label, value in (("Jour", "19"), ("Mois", "08"), ("Année", "1991")):
        expect(date_group(driver, "Date de naissance").get_by_label(label, exact=True)).to_have_value(value)
    expect(field(driver, "Commune de naissance")).to_have_value("Lille")
    expect(field(driver, "Numéro de permis de conduire")).to_have_value("13AA00002")
    expect(field(driver, "Adresse")).to_have_value("12 rue des Lilas")
    expect(field(driver, "Code postal")).to_have_value("59000")
    expect(field(driver, "Adresse électronique")).to_have_value("paul.martin@exemple.fr")
    expect(field(driver, "Numéro de permis de conduire")).not_to_have_attribute("aria-invalid", "true")

    confirm.fill("paul.martin@exemple.fr")
    boxes = driver.get_by_role("checkbox")
    expect(boxes).to_have_count(4)
    for words in ("(CGU)", "(RGPD)", "(CGV)", "l'exactitude des informations"):
        driver.get_by_label(words).check()
    driver.get_by_role("button", name="Créer", exact=True).click()
    expect(driver.get_by_role("heading", name="Votre demande de création de compte est envoyée")).to_be_visible()
    expect(driver.get_by_text("paul.martin@exemple.fr")).to_be_visible()
    received = only_email(deliver(), "paul.martin@exemple.fr", "Votre demande de création de compte Hub Pro Transport")
    assert "envoyées pour analyse" in received["text"]

    # Before « Conforme », no password gives access.
    driver.goto("/connexion")
    for attempt in ("Correct-Horse-42!", "N'importe-quoi-2024?"):
        public_login(driver, "paul.martin@exemple.fr", attempt)
        expect(driver.get_by_text("Adresse électronique ou mot de passe incorrect.", exact=True)).to_be_visible()
        expect(driver.get_by_role("button", name="Déconnexion")).to_have_count(0)
    driver.goto("/mon-compte")
    expect(driver.get_by_role("heading", name="Je me connecte")).to_be_visible()

    # Staff: « Comptes à analyser » → the account → the licence number is « Non conforme ».
    staff = new_page()
    staff_login(staff, "agent.analyse@ingroupe.fr")
    open_menu(staff, "Comptes particuliers", "Comptes à analyser")
    staff.get_by_role("link", name="MARTIN Paul").click()
    expect(staff.get_by_role("heading", name="Compte particulier de Paul MARTIN")).to_be_visible()
    licence_row = staff.get_by_role("row", name=re.compile(r"^Numéro de permis de conduire"))
    expect(licence_row).to_contain_text("13AA00002")
    licence_row.get_by_label("Non conforme").check()
    reason = "Le numéro ne correspond pas à la rubrique 5 du permis présenté."
    staff.get_by_label("Raison pour Numéro de permis de conduire").fill(reason)
    staff.get_by_role("button", name="Non conforme", exact=True).click()
    expect(staff.get_by_text("Le compte est déclaré non conforme")).to_be_visible()
    expect(staff.get_by_role("link", name="MARTIN Paul")).to_have_count(0)

    # The driver's e-mail gives the reason and the link to a page with only the flagged field.
    mail = only_email(deliver(), "paul.martin@exemple.fr", "Votre demande de création de compte est à corriger")
    assert f"Numéro de permis de conduire : {reason}" in mail["text"]
    driver.goto(link_in(mail, after="Mettez à jour ces informations"))
    expect(driver.get_by_role("heading", name="Mettre à jour mes informations")).to_be_visible()
    anomaly = driver.get_by_role("row").filter(has_text="Numéro de permis de conduire")
    expect(anomaly).to_contain_text("13AA00002")
    expect(anomaly).to_contain_text(reason)
    form = driver.locator("form").filter(has=driver.get_by_role("button", name="Envoyer pour analyse"))
    expect(form.get_by_role("textbox")).to_have_count(1)
    for other in ("Nom", "Prénom(s)", "Adresse", "Code postal", "Commune"):
        expect(field(driver, other)).to_have_count(0)
    expect(date_group(driver, "Date de naissance")).to_have_count(0)
    licence = field(driver, "Numéro de permis de conduire")
    expect(licence).to_have_value("13AA00002")
    licence.fill("13ab 12345")
    driver.get_by_role("button", name="Envoyer pour analyse").click()
    expect(driver.get_by_role("heading", name="Vos informations sont envoyées pour une nouvelle analyse")).to_be_visible()
    deliver()

    # Staff see the account again, with what changed, and declare it « Conforme ».
    open_menu(staff, "Comptes particuliers", "Comptes à analyser")
    staff.get_by_role("link", name="MARTIN Paul").click()
    changes = staff.get_by_text("Ce que le titulaire a corrigé").locator("xpath=..")
    expect(changes).to_contain_text("Numéro de permis de conduire : « 13AA00002 » → « 13AB12345 »")
    expect(changes).to_contain_text(reason)
    expect(staff.get_by_role("row", name=re.compile(r"^Numéro de permis de conduire"))).to_contain_text("13AB12345")
    staff.get_by_role("button", name="Conforme", exact=True).click()
    expect(staff.get_by_text("Le compte est déclaré conforme")).to_be_visible()

    # « Créer mon mot de passe » → password → « Revenir à l'application » → login → home page.
    mail = only_email(deliver(), "paul.martin@exemple.fr", "Créez votre mot de passe Hub Pro Transport")
    create_password_from(driver, mail, "Conduite-Sure-59!")
    driver.get_by_role("link", name="Revenir à l'application").click()
    expect(driver.get_by_role("heading", name="Je me connecte")).to_be_visible()
    public_login(driver, "paul.martin@exemple.fr", "Conduite-Sure-59!")
    expect_logged_in_home(driver, "Paul MARTIN")
    driver.get_by_role("link", name="Mon compte").click()
    expect(driver.get_by_text("13AB12345")).to_be_visible()
