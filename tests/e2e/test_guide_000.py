"""Guide 000 followed in a real browser: the administrator of a transport company designates a manager and a deputy
administrator, each creates a password from the e-mail received and sees the home page of their role; the
administrator modifies one and deletes the other; the company subscribes its TACHY contract and staff give its number.
"""
import datetime as dt
import os
import re

import pytest
from playwright.sync_api import expect

from models.clock import today as today_in_france  # deadlines and dates shown are France's
from tests.e2e.conftest import CHROMIUM, TEST_PASSWORD, link_in, only_email, open_menu
from tests.e2e.test_guides import HOME_TITLE, field, public_login, staff_login

if not os.path.exists(CHROMIUM):
    pytest.skip(f"Chromium absent ({CHROMIUM}) : tests de bout en bout ignorés.", allow_module_level=True)

ADMIN_MENU = ["Accueil", "Mon compte", "Mon Contrat", "Mes Gestionnaires", "Mes Conducteurs", "Mes Demandes",
              "Mes Factures", "Mes Cartes", "Supervision"]
MANAGER_MENU = ["Accueil", "Mes Conducteurs", "Mes Demandes", "Mes Cartes", "Supervision"]
SUBMITTED = ("Votre contrat TACHY a été pris en compte avec succès. Votre numéro de contrat vous sera communiqué "
             "d'ici 24 heures.")


def menu(page):
    return [label.strip() for label in page.get_by_role("navigation", name="Menu principal").get_by_role("link").all_inner_texts()]


def section(page, heading):
    """The table following a heading of « Mes Gestionnaires »."""
    return page.locator(f"h2:text-is('{heading}') + div table")


def designate(page, last, first, function, phone, email, admin):
    page.get_by_role("link", name="Ajouter un gestionnaire").click()
    expect(page.get_by_role("heading", name="DESIGNATION D'UN GESTIONNAIRE")).to_be_visible()
    field(page, "Nom").fill(last)
    field(page, "Prénom").fill(first)
    field(page, "Fonction").fill(function)
    field(page, "Numéro de téléphone").fill(phone)
    field(page, "Adresse électronique").fill(email)
    field(page, "Confirmer l'adresse électronique").fill(email)
    page.get_by_label("Oui" if admin else "Non", exact=True).check()
    page.get_by_role("button", name="Ajouter").click()


def set_password_and_log_in(page, mail, email):
    page.goto(link_in(mail, after="Créer mon mot de passe"))
    page.get_by_role("link", name="Cliquer ici pour continuer").click()
    field(page, "Mot de passe").fill(TEST_PASSWORD)
    field(page, "Confirmation du mot de passe").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", name="Votre mot de passe est enregistré")).to_be_visible()
    page.get_by_role("link", name="Revenir à l'application").click()
    public_login(page, email, TEST_PASSWORD)
    expect(page.get_by_role("heading", name=HOME_TITLE)).to_be_visible()


def test_guide_000_designer_des_gestionnaires(live, new_page, deliver):
    from models import Habilitation, News, Organisation, OrgKind, Procedure, ProcedureCode, Role, Staff, StaffRole, User
    from services import demo, passwords, sirene

    with live.database():
        with open(demo.SAMPLE_CSV, encoding="utf-8") as handle:
            sirene.load_csv(handle)
        company = Organisation.create(kind=OrgKind.COMPANY, siret="82345678500026", name="TRANSPORTS MARTIN ET FILS")
        User.create(email="direction@transports-martin.fr", role=Role.ORG_ADMIN, organisation=company,
                    last_name="Martin", first_name="Jean", password_hash=passwords.hash_password(TEST_PASSWORD))
        News.create(text="À compter du 1er Septembre 2023, le prix unitaire de la CQC est revalorisé à 28,24€ HT "
                         "(hors frais d'envoi).", published_on=dt.date(2023, 8, 1))
        agent = Staff.create(email="contrats@ingroupe.fr", role=StaffRole.AGENT, first_name="Karim", last_name="Benali",
                             password_hash=passwords.hash_password(TEST_PASSWORD))
        Habilitation.create(staff=agent, procedure=Procedure.by_code(ProcedureCode.CONTRAT_TACHY))

    # ETAPE 1 – Se connecter au compte principal de l'établissement.
    admin = new_page()
    admin.goto("/connexion")
    public_login(admin, "direction@transports-martin.fr", TEST_PASSWORD)
    expect(admin.get_by_role("heading", name=HOME_TITLE)).to_be_visible()
    assert menu(admin) == ADMIN_MENU
    expect(admin.get_by_text("le prix unitaire de la CQC est revalorisé à 28,24€ HT")).to_be_visible()

    # « Mon Contrat »: the TACHY contract is subscribed; its number follows within 24 hours.
    admin.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Mon Contrat").click()
    admin.get_by_role("button", name="Souscrire le contrat TACHY").click()
    field(admin, "Nom").fill("Martin")
    field(admin, "Prénom").fill("Jean")
    field(admin, "Qualité").fill("Gérant")
    admin.get_by_role("button", name="Suivant").click()
    expect(field(admin, "Raison sociale")).to_have_value("TRANSPORTS MARTIN ET FILS")
    expect(field(admin, "Code postal")).to_have_value("59128")
    field(admin, "Téléphone du contact").fill("03 27 00 00 00")
    admin.get_by_role("button", name="Suivant").click()
    admin.get_by_role("button", name="Suivant").click()
    expect(admin.get_by_text("Cochez la case pour accepter les conditions du contrat.", exact=True)).to_be_visible()
    field(admin, "J'ai lu et j'accepte les conditions du contrat").check()
    admin.get_by_role("button", name="Suivant").click()
    expect(admin.get_by_text("Jean MARTIN, Gérant")).to_be_visible()
    admin.get_by_role("button", name="Valider ma demande").click()
    expect(admin.get_by_role("status").filter(has_text=SUBMITTED).first).to_be_visible()
    admin.get_by_role("link", name="Accueil", exact=True).first.click()
    today = today_in_france().strftime("%d/%m/%Y")
    expect(admin.get_by_text(f"{today} - {SUBMITTED}")).to_be_visible()

    # ETAPE 2 to 5 – « Mes gestionnaires » → « Ajouter un gestionnaire »; « Annuler » resets the fields.
    admin.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Mes Gestionnaires").click()
    expect(admin.get_by_text("vivement conseillé de désigner au minimum un administrateur suppléant")).to_be_visible()
    admin.get_by_role("link", name="Ajouter un gestionnaire").click()
    field(admin, "Nom").fill("Brouillon")
    admin.get_by_role("link", name="Annuler").click()
    expect(field(admin, "Nom")).to_have_value("")
    admin.get_by_role("link", name="Mes gestionnaires", exact=True).click()

    designate(admin, "Vannest", "Philippe", "Gestionnaire de demande", "03 20 00 00 01",
              "p.vannest@transports-martin.fr", admin=False)
    expect(admin.get_by_text("un courrier électronique l'invite à créer son mot de passe")).to_be_visible()
    expect(section(admin, "Gestionnaires de mon établissement").get_by_role("row").nth(1)).to_contain_text(
        re.compile(r"VANNEST\s+PHILIPPE\s+GESTIONNAIRE DE DEMANDE"))
    designate(admin, "Leroy", "Marie", "Adjointe", "03 20 00 00 02", "m.leroy@transports-martin.fr", admin=True)
    administrators = section(admin, "Administrateur(s) de mon établissement")
    expect(administrators).to_contain_text(re.compile(r"LEROY\s+MARIE\s+ADJOINTE"))
    expect(administrators).to_contain_text("MARTIN")
    expect(admin.get_by_text("vivement conseillé")).to_have_count(0)

    # Each sets a password from the e-mail received and sees the home page of their role.
    mails = deliver()
    manager = new_page()
    set_password_and_log_in(manager, only_email(mails, "p.vannest@transports-martin.fr"), "p.vannest@transports-martin.fr")
    assert menu(manager) == MANAGER_MENU
    expect(manager.get_by_text("Aucune notification")).to_be_visible()
    expect(manager.get_by_text("Aucune demande en cours")).to_be_visible()
    deputy = new_page()
    set_password_and_log_in(deputy, only_email(mails, "m.leroy@transports-martin.fr"), "m.leroy@transports-martin.fr")
    assert menu(deputy) == ADMIN_MENU
    expect(deputy.get_by_text("Aucune notification")).to_be_visible()

    # The administrator modifies the deputy's record (never the address) and deletes the manager.
    admin.reload()
    admin.get_by_role("link", name="Modifier la fiche de Marie LEROY").click()
    expect(admin.get_by_text("m.leroy@transports-martin.fr (non modifiable)")).to_be_visible()
    field(admin, "Fonction").fill("Responsable d'exploitation")
    admin.get_by_role("button", name="Enregistrer").click()
    expect(administrators).to_contain_text("RESPONSABLE D'EXPLOITATION")
    admin.once("dialog", lambda dialog: dialog.accept())
    admin.get_by_role("button", name="Supprimer Philippe VANNEST").click()
    expect(admin.get_by_text("Le compte de Philippe VANNEST est supprimé : il n'a plus accès à son espace.")).to_be_visible()
    expect(admin.locator("main")).to_contain_text("Gestionnaires de mon établissement")
    expect(admin.get_by_role("cell", name="VANNEST")).to_have_count(0)

    # The deleted manager's open session ends at once.
    manager.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Mes Demandes").click()
    expect(manager.get_by_role("heading", name="Je me connecte")).to_be_visible()
    expect(manager.get_by_role("button", name="Déconnexion")).to_have_count(0)

    # Staff give the contract its number; the company sees it in « Mon Contrat ».
    staff = new_page()
    staff_login(staff, "contrats@ingroupe.fr")
    open_menu(staff, "Établissements", "Contrats")
    staff.get_by_role("link", name="MARTIN Jean").click()
    staff.get_by_role("button", name="Prendre en instruction").click()
    staff.get_by_label("Numéro de contrat").fill("TACHY-2026-00042")
    staff.get_by_role("button", name="Enregistrer le numéro").click()
    expect(staff.get_by_text("Le contrat n° TACHY-2026-00042 est enregistré")).to_be_visible()

    deputy.get_by_role("navigation", name="Menu principal").get_by_role("link", name="Mon Contrat").click()
    expect(deputy.get_by_text("TACHY-2026-00042")).to_be_visible()
    admin.get_by_role("link", name="Accueil", exact=True).first.click()
    expect(admin.get_by_text("Votre contrat TACHY est enregistré sous le numéro TACHY-2026-00042.")).to_be_visible()
    mail = only_email(deliver(), "direction@transports-martin.fr", "Votre numéro de contrat TACHY : TACHY-2026-00042")
    assert "TACHY-2026-00042" in mail["text"]

