"""Guide 000's purpose in a real browser: a manager adds a driver, requests his tachograph driver card with uploads,
staff ask for information, the manager answers, staff accept and ship; the card appears in « Mes Cartes » and
« Supervision », then on the monthly invoice the administrator downloads."""
import datetime as dt
import os
import re

import pytest
from playwright.sync_api import expect

from models.clock import today as today_in_france  # deadlines and dates shown are France's
from tests.cqc_files import pdf, png
from tests.e2e.conftest import CHROMIUM, TEST_PASSWORD, link_in, only_email, open_menu
from tests.e2e.dates import fill_date
from tests.e2e.test_guides import HOME_TITLE, field, public_login, staff_login

if not os.path.exists(CHROMIUM):
    pytest.skip(f"Chromium absent ({CHROMIUM}) : tests de bout en bout ignorés.", allow_module_level=True)

MANAGER = "gestion-82345678500026@exemple.fr"
ADMIN = "direction-82345678500026@exemple.fr"
PHOTO_REASON = "Photo floue : visage non reconnaissable."
REQUEST_TITLE = "Carte tachygraphe conducteur"


def menu(page, label):
    page.get_by_role("navigation", name="Menu principal").get_by_role("link", name=label, exact=True).click()


def test_a_manager_orders_a_driver_card_that_ends_on_the_monthly_invoice(live, new_page, deliver, tmp_path):
    from models import Habilitation, Procedure, ProcedureCode, Staff, StaffRole
    from services import passwords
    from tests.tachy_data import company_under_contract, tachy_tariffs

    with live.database():
        tachy_tariffs()
        agent = Staff.create(email="tachy@ingroupe.fr", role=StaffRole.AGENT, first_name="Karim", last_name="Benali",
                             password_hash=passwords.hash_password(TEST_PASSWORD))
        for code in (ProcedureCode.CONTRAT_TACHY, ProcedureCode.TACHY_CONDUCTEUR):
            Habilitation.create(staff=agent, procedure=Procedure.by_code(code))
        company_under_contract(agent)
    files = {}
    for name, content in (("photo.png", png(30, 40)), ("photo-nette.png", png(30, 40, (200, 180, 150))),
                          ("signature.png", png(60, 20, (20, 20, 20))), ("document.pdf", pdf())):
        files[name] = tmp_path / name
        files[name].write_bytes(content)

    # The manager adds a driver in « Mes Conducteurs ».
    manager = new_page()
    manager.goto("/connexion")
    public_login(manager, MANAGER, TEST_PASSWORD)
    expect(manager.get_by_role("heading", name=HOME_TITLE)).to_be_visible()
    menu(manager, "Mes Conducteurs")
    manager.get_by_text("Ajouter un conducteur", exact=True).click()
    field(manager, "Nom").fill("Vannest")
    field(manager, "Prénom(s)").fill("Philippe")
    fill_date(manager, "Date de naissance", dt.date(1985, 3, 14))
    field(manager, "Lieu de naissance").fill("Lille")
    licence = field(manager, "Numéro de permis de conduire")
    licence.click()
    expect(manager.locator("#licence-aid")).to_be_visible()
    licence.fill("13aa00002")
    field(manager, "Adresse").fill("3 rue du Port")
    field(manager, "Code postal").fill("59000")
    field(manager, "Commune").fill("Lille")
    manager.get_by_role("button", name="Ajouter le conducteur").click()
    expect(manager.get_by_text("Philippe VANNEST est ajouté(e) à « Mes Conducteurs ».")).to_be_visible()

    # « Demander sa carte » → « Première demande » → the wizard, with uploads.
    manager.get_by_role("row").filter(has_text="VANNEST").get_by_role("link", name="Demander sa carte").click()
    expect(manager.get_by_label("Conducteur")).to_have_value(re.compile(r"\d+"))
    manager.get_by_label("Première demande").check()
    manager.get_by_role("button", name="Commencer").click()
    expect(manager.get_by_text("13AA00002")).to_be_visible()
    field(manager, "Je certifie que ces informations sont celles du permis de conduire du conducteur").check()
    manager.get_by_role("button", name="Suivant").click()
    for label, name in (("Photo d'identité", "photo.png"), ("Signature", "signature.png"),
                        ("Permis de conduire (recto)", "document.pdf"), ("Permis de conduire (verso)", "document.pdf"),
                        ("Pièce d'identité", "document.pdf"),
                        ("Déclaration de résidence normale en France", "document.pdf")):
        field(manager, label).set_input_files(files[name])
        manager.get_by_role("button", name="Suivant").click()
    expect(field(manager, "Adresse de livraison")).to_have_value("5 ZA des Peupliers")
    manager.get_by_role("button", name="Suivant").click()
    expect(manager.get_by_text("59,00")).to_be_visible()
    manager.get_by_role("button", name="Valider ma demande").click()
    expect(manager.get_by_role("heading", name="Mon dossier est envoyé pour traitement")).to_be_visible()

    # Staff take it and ask for a sharper photo.
    staff = new_page()
    staff_login(staff, "tachy@ingroupe.fr")
    open_menu(staff, "Télédossiers", "Cartes tachygraphe")
    staff.get_by_role("link", name="DURAND Claire").click()
    expect(staff.get_by_text("VANNEST Philippe")).to_be_visible()
    staff.get_by_role("button", name="Prendre en instruction").click()
    staff.get_by_label("Photo d'identité (document)").check()
    staff.get_by_label("Raison pour Photo d'identité").fill(PHOTO_REASON)
    staff.get_by_role("button", name="Demander une information complémentaire").click()
    expect(staff.get_by_text("La demande d'information complémentaire est envoyée au titulaire")).to_be_visible()
    mail = only_email(deliver(), MANAGER, "Votre demande requiert une information complémentaire")
    assert PHOTO_REASON in mail["text"]

    # The manager answers from « Mes demandes en cours ».
    manager.goto(link_in(mail))
    item = manager.get_by_role("article").filter(has_text=REQUEST_TITLE)
    item.get_by_text("Détail", exact=True).click()
    expect(item.get_by_role("row").filter(has_text="Photo d'identité")).to_contain_text(PHOTO_REASON)
    item.get_by_role("link", name="Répondre").click()
    manager.get_by_label("Photo d'identité").set_input_files(files["photo-nette.png"])
    manager.get_by_role("button", name="Répondre").click()
    expect(manager.get_by_text("Votre réponse est envoyée")).to_be_visible()

    # Staff accept (the card is ordered) and ship it by registered mail.
    staff.reload()
    staff.get_by_role("button", name="Accepter").click()
    expect(staff.get_by_text("1 carte(s) commandée(s)")).to_be_visible()
    staff.get_by_role("link", name="voir la carte").click()
    staff.get_by_role("button", name="Expédier").click()
    expect(staff.get_by_role("heading", level=1)).to_contain_text("Carte expédiée")
    mail = only_email(deliver(), MANAGER, "Carte tachygraphe conducteur expédiée")
    assert "lettre recommandée" in mail["text"]

    # « Mes Cartes » and « Supervision » show it.
    menu(manager, "Mes Cartes")
    row = manager.get_by_role("row").filter(has_text="VANNEST PHILIPPE")
    expect(row).to_contain_text("Carte expédiée")
    card_number = row.get_by_role("cell").nth(2).inner_text().strip()
    menu(manager, "Supervision")
    expect(manager.get_by_role("row").filter(has_text="VANNEST")).to_contain_text(card_number)
    expect(manager.get_by_role("row").filter(has_text="VANNEST")).to_contain_text("Claire DURAND")

    # The month's invoice lists it; the administrator downloads it in « Mes Factures ».
    from services import invoices

    with live.database():
        assert invoices.monthly_contract_invoices(today_in_france().replace(day=1)) == 1
    admin = new_page()
    admin.goto("/connexion")
    public_login(admin, ADMIN, TEST_PASSWORD)
    menu(admin, "Mes Factures")
    expect(admin.get_by_text("70,80")).to_be_visible()
    with admin.expect_download() as download:
        admin.get_by_role("link", name=re.compile("duplicata", re.I)).first.click()
    assert download.value.suggested_filename.endswith(".pdf")
