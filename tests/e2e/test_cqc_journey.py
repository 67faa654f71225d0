"""Guides 001 and 004 in a real browser, from the training summaries to the card's reception and activation.

A centre records a FIMO; the driver reads the summary and the certificate, makes the CQC request step by
step (a refused upload, a pause, « Reprendre »), answers an information request, follows the card through
« pli non distribué » and activates it. Staff take, question and accept the request and move the card in
the back office. Every e-mail is really sent to the test SMTP server and read back there.
"""
import datetime as dt
import email
import io
import os
import re
from email import policy

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.e2e.conftest import CHROMIUM, TEST_PASSWORD, Mailbox, link_in, only_email, open_menu
from tests.e2e.dates import fill_date
from tests.e2e.test_guides import field, public_login, staff_login

if not os.path.exists(CHROMIUM):
    pytest.skip(f"Chromium absent ({CHROMIUM}) : tests de bout en bout ignorés.", allow_module_level=True)

CENTRE_EMAIL = "cfa-formatrans@exemple.fr"
DRIVER_EMAIL = "anne.martin@exemple.fr"
AGENT_EMAIL = "agent.cqc@ingroupe.fr"
MOBILE = "+33612345678"
#: The old pink licence of the guide's card (field 5a).
LICENCE = "942981379228"
REQUEST_TITLE = "Carte de qualification de conducteur (CQC)"
PHOTO_REASON = "La photo est floue : fournissez une photo nette, de face, sur fond clair."


# --- The mailbox, with attachments -------------------------------------------------------------


class MailboxWithAttachments(Mailbox):
    """The conftest mailbox, also keeping each message's attachments as (file name, content type, bytes)."""

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        files = [(part.get_filename(), part.get_content_type(), part.get_content()) for part in message.iter_attachments()]
        # No await between the parent's append and this line: the message is the last one.
        reply = await super().handle_DATA(server, session, envelope)
        with self.lock:
            self.messages[-1]["attachments"] = files
        return reply


@pytest.fixture(scope="module")
def smtp_server():
    """The conftest SMTP server, with a mailbox that keeps attachments (overrides the conftest fixture)."""
    from aiosmtpd.controller import Controller

    from tests.e2e.conftest import _free_port

    controller = Controller(MailboxWithAttachments(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


# --- Small helpers -------------------------------------------------------------------------------


def pdf_text(data):
    assert data.startswith(b"%PDF-"), data[:20]
    return " ".join(" ".join((page.extract_text() or "").split()) for page in PdfReader(io.BytesIO(data)).pages)


def menu(page, label):
    """Click an entry of the portal's main menu."""
    page.get_by_role("navigation", name="Menu principal").get_by_role("link", name=label).click()


def png(width, height, rgb):
    from tests.cqc_files import png as make_png

    return make_png(width, height, rgb)


def image_loaded(locator):
    return locator.evaluate("img => img.complete && img.naturalWidth > 0")


def date_fr(day):
    return day.strftime("%d/%m/%Y")


# --- The journey -------------------------------------------------------------------------------


def test_cqc_de_la_formation_a_l_activation_de_la_carte(live, new_page, deliver, tmp_path):
    from models import (
        AccountState,
        Card,
        Channel,
        Dossier,
        Habilitation,
        OutboxMessage,
        Procedure,
        Staff,
        StaffRole,
        User,
    )
    from services import accounts, passwords
    from models import clock, deadlines
    from tests.cqc_files import PDF, make_centre, make_member

    # 1. Set-up as the operators would have left it: an approved centre and its administrator, an active
    #    driver account with a mobile number, an agent habilitated for the CQC procedure.
    with live.database():
        centre = make_centre(name="FORMATRANS")
        make_member(centre, email=CENTRE_EMAIL)
        identity = {
            "email": DRIVER_EMAIL, "last_name": "Martin", "first_name": "Anne", "birth_date": dt.date(1991, 8, 19),
            "birth_place": "Lille", "birth_country": "France", "licence_number": LICENCE, "mobile": MOBILE,
            "address": "12 rue des Lilas", "address_extra": "", "postal_code": "59000", "city": "Lille",
        }
        driver_user = accounts.register_driver(identity, live.app.config["DRIVER_CONSENTS"])
        User.update(password_hash=passwords.hash_password(TEST_PASSWORD)).where(User.id == driver_user.id).execute()
        Dossier.update(state=AccountState.ACTIVE).where(Dossier.user == driver_user).execute()
        agent = Staff.create(
            email=AGENT_EMAIL, role=StaffRole.AGENT, first_name="Bruno", last_name="Agent",
            password_hash=passwords.hash_password(TEST_PASSWORD),
        )
        Habilitation.create(staff=agent, procedure=Procedure.by_code("CQC"))
        today = clock.today()
    deliver()  # the account's own e-mails are not this journey's
    end = today - dt.timedelta(days=3)
    start = end - dt.timedelta(days=30)
    certificate_end = deadlines.add_months(end, deadlines.CERTIFICATE_VALIDITY_MONTHS)

    # 2. The centre records the FIMO « Marchandises » in « Mes formations déclarées ».
    centre_page = new_page()
    centre_page.goto("/connexion")
    public_login(centre_page, CENTRE_EMAIL, TEST_PASSWORD)
    menu(centre_page, "Mes formations déclarées")
    expect(centre_page.get_by_role("heading", name="Mes formations déclarées")).to_be_visible()
    centre_page.get_by_text("Déclarer une formation", exact=True).click()
    centre_page.get_by_label("FIMO").check()
    centre_page.get_by_label("Marchandises").check()
    fill_date(centre_page, "Date de début", start)
    fill_date(centre_page, "Date de fin", end)
    field(centre_page, "Nom").fill("Martin")
    field(centre_page, "Prénom(s)").fill("Anne")
    fill_date(centre_page, "Date de naissance", dt.date(1991, 8, 19))
    field(centre_page, "Numéro de permis de conduire").fill(LICENCE)
    centre_page.get_by_role("button", name="Déclarer la formation").click()
    expect(centre_page.get_by_text(
        "Formation FIMO Marchandises déclarée pour Anne MARTIN : le récapitulatif est déposé sur son compte "
        "et son certificat de qualification lui est envoyé."
    )).to_be_visible()
    row = centre_page.get_by_role("row").filter(has_text=LICENCE)
    expect(row).to_contain_text("FIMO Marchandises")
    expect(row).to_contain_text("Rattachée au compte du conducteur")
    expect(row).to_contain_text("Certificat de qualification envoyé")

    mail = only_email(deliver(), DRIVER_EMAIL, "Votre certificat de qualification")
    assert f"valable jusqu'au {date_fr(certificate_end)}" in mail["text"]
    assert link_in(mail).startswith(live.url + "/mes-certificats")
    [(name, content_type, data)] = mail["attachments"]
    assert content_type == "application/pdf" and name.endswith(".pdf")
    text = pdf_text(data)
    for words in ("Certificat de qualification", "MARTIN", "Anne", date_fr(certificate_end)):
        assert words in text, f"« {words} » absent du certificat : {text}"

    # 3. The driver: « Mes formations » → the eye opens the summary in a new tab; « Mes certificats ».
    driver = new_page()
    driver.goto("/connexion")
    public_login(driver, DRIVER_EMAIL, TEST_PASSWORD)
    expect(driver.get_by_role("heading", name="Mes notifications")).to_be_visible()
    menu(driver, "Mes formations")
    expect(driver.get_by_role("heading", name="Mes formations")).to_be_visible()
    row = driver.get_by_role("row").filter(has_text="FIMO Marchandises")
    expect(row).to_contain_text("FORMATRANS")
    expect(row).to_contain_text(f"du {date_fr(start)} au {date_fr(end)}")
    eye = row.get_by_role("link", name="Visualiser le récapitulatif FIMO Marchandises (nouvel onglet)")
    expect(eye).to_have_attribute("target", "_blank")
    with driver.context.expect_event("response", lambda r: "recapitulatif.pdf" in r.url) as summary_response, \
            driver.context.expect_page() as new_tab:
        eye.click()
    response = summary_response.value
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("inline")
    assert new_tab.value != driver
    new_tab.value.close()
    summary = driver.request.get(eye.get_attribute("href"))
    assert summary.headers["content-type"] == "application/pdf"
    text = pdf_text(summary.body())
    assert "MARTIN" in text and "FIMO" in text, text

    menu(driver, "Mes certificats")
    row = driver.get_by_role("row").filter(has_text="FIMO Marchandises")
    expect(row).to_contain_text(date_fr(end))
    expect(row).to_contain_text(date_fr(certificate_end))
    expect(row).to_contain_text("Valide")
    with driver.expect_download() as download:
        row.get_by_role("link", name="Télécharger le certificat FIMO Marchandises").click()
    assert "Certificat de qualification" in pdf_text(download.value.path().read_bytes())

    # 4. « Mes demandes » → « Faire une demande » → the CQC card → documents → « Commencer » → the steps.
    menu(driver, "Mes demandes")
    driver.get_by_role("link", name="Faire une demande").click()
    driver.get_by_role("link", name=re.compile(r"^Carte CQC")).click()
    expect(driver.get_by_role("heading", name="Carte de qualification de conducteur (CQC)")).to_be_visible()
    pieces = driver.get_by_role("list").filter(has_text="Photo d'identité")
    for label in ("Photo d'identité", "Signature", "Pièce d'identité"):
        expect(pieces.get_by_role("listitem").filter(has_text=label)).to_have_count(1)
    driver.get_by_role("button", name="Commencer").click()

    expect(driver.get_by_role("heading", name="Vérification de mon identité")).to_be_visible()
    expect(driver.get_by_text(LICENCE)).to_be_visible()
    driver.get_by_label("Je certifie l'exactitude de ces informations").check()
    driver.get_by_role("button", name="Suivant").click()

    expect(driver.get_by_role("heading", name="Ma photo")).to_be_visible()
    fake = tmp_path / "photo.jpg"
    fake.write_text("Ceci n'est pas une photo.\n", encoding="utf-8")
    driver.get_by_label("Photo d'identité").set_input_files(fake)
    driver.get_by_role("button", name="Suivant").click()
    expect(driver.get_by_role("heading", name="Ma photo")).to_be_visible()
    photo_input = driver.get_by_label("Photo d'identité")
    expect(photo_input).to_have_attribute("aria-invalid", "true")
    expect(photo_input).to_have_accessible_description(
        re.compile(r"Format non accepté : seuls les fichiers JPEG et PNG sont acceptés\.$")
    )
    expect(driver.get_by_text("Fichier enregistré")).to_have_count(0)
    # Nothing else was lost: the identity step is still done and certified.
    stepper = driver.get_by_role("list", name="Étapes de la demande")
    stepper.get_by_role("link", name=re.compile("Vérification de mon identité")).click()
    expect(driver.get_by_label("Je certifie l'exactitude de ces informations")).to_be_checked()
    driver.get_by_role("button", name="Suivant").click()

    photo = tmp_path / "photo.png"
    photo.write_bytes(png(24, 32, (0, 0, 145)))
    driver.get_by_label("Photo d'identité").set_input_files(photo)
    driver.get_by_role("button", name="Suivant").click()
    expect(driver.get_by_role("heading", name="Ma signature")).to_be_visible()
    signature = tmp_path / "signature.png"
    signature.write_bytes(png(60, 20, (20, 20, 20)))
    driver.get_by_label("Signature").set_input_files(signature)
    driver.get_by_role("button", name="Suivant").click()
    expect(driver.get_by_role("heading", name="Ma pièce d'identité")).to_be_visible()

    # Half-way: back to « Accueil », then « Mes demandes en cours » → « Reprendre » resumes here.
    menu(driver, "Accueil")
    expect(driver.get_by_role("heading", name="Suivi de mes demandes")).to_be_visible()
    expect(driver.get_by_role("listitem").filter(has_text=REQUEST_TITLE)).to_contain_text("Brouillon")
    driver.get_by_role("link", name="Mes demandes en cours").click()
    driver.get_by_role("link", name="Reprendre").click()
    expect(driver.get_by_role("heading", name="Ma pièce d'identité")).to_be_visible()
    stepper = driver.get_by_role("list", name="Étapes de la demande")
    stepper.get_by_role("link", name=re.compile("Ma photo")).click()
    expect(driver.get_by_role("link", name="photo.png")).to_be_visible()
    expect(driver.get_by_role("img", name="Aperçu : photo.png")).to_be_visible()
    assert image_loaded(driver.get_by_role("img", name="Aperçu : photo.png"))
    stepper.get_by_role("link", name=re.compile("Ma pièce d'identité")).click()

    identity_file = tmp_path / "cni.pdf"
    identity_file.write_bytes(PDF)
    driver.get_by_label("Pièce d'identité").set_input_files(identity_file)
    driver.get_by_role("button", name="Suivant").click()

    expect(driver.get_by_role("heading", name="Mon adresse de livraison")).to_be_visible()
    expect(field(driver, "Nom du destinataire")).to_have_value("Anne MARTIN")
    expect(field(driver, "Adresse de livraison")).to_have_value("12 rue des Lilas")
    field(driver, "Complément d'adresse de livraison").fill("Bâtiment B")
    expect(field(driver, "Code postal de livraison")).to_have_value("59000")
    expect(field(driver, "Commune de livraison")).to_have_value("Lille")
    driver.get_by_role("button", name="Suivant").click()

    expect(driver.get_by_role("heading", name="Récapitulatif")).to_be_visible()
    expect(driver.get_by_text("FIMO Marchandises", exact=True)).to_be_visible()
    for name in ("photo.png", "signature.png", "cni.pdf"):
        expect(driver.get_by_role("link", name=name)).to_be_visible()
    expect(driver.locator("address")).to_contain_text("Bâtiment B")
    driver.get_by_role("button", name="Valider ma demande").click()
    expect(driver.get_by_role("heading", name="Mon dossier est envoyé pour traitement")).to_be_visible()
    only_email(deliver(), DRIVER_EMAIL, "Votre demande est envoyée pour traitement")

    # 5. The agent: « Demandes de CQC » → the request, its documents → « Prendre en instruction » → ask.
    staff = new_page()
    staff_login(staff, AGENT_EMAIL)
    open_menu(staff, "Télédossiers", "Demandes de CQC")
    staff.get_by_role("link", name="MARTIN Anne").click()
    expect(staff.get_by_role("heading", name=re.compile("Demande de CQC n° .* Anne MARTIN"))).to_contain_text("Envoyée")
    for label in ("Photo d'identité", "Signature"):
        image = staff.get_by_role("img", name=label)
        expect(image).to_be_visible()
        assert image_loaded(image), f"{label} : image non affichée"
    frame = staff.locator("iframe[title=\"Pièce d'identité\"]")
    expect(frame).to_be_visible()
    shown = staff.request.get(frame.get_attribute("src"))
    assert shown.status == 200 and shown.headers["content-type"] == "application/pdf"
    staff.get_by_role("button", name="Prendre en instruction").click()
    expect(staff.get_by_text("La demande est prise en instruction.")).to_be_visible()

    staff.get_by_label("Photo d'identité (document)").check()
    staff.get_by_label("Raison pour Photo d'identité").fill(PHOTO_REASON)
    staff.get_by_role("button", name="Demander une information complémentaire").click()
    expect(staff.get_by_text("La demande d'information complémentaire est envoyée au titulaire")).to_be_visible()
    expect(staff.get_by_role("heading", name=re.compile("Demande de CQC n°"))).to_contain_text(
        "En attente d'information complémentaire"
    )

    mail = only_email(deliver(), DRIVER_EMAIL, "Votre demande requiert une information complémentaire")
    assert f"Photo d'identité : {PHOTO_REASON}" in mail["text"]
    assert link_in(mail).startswith(live.url + "/mes-demandes")
    with live.database():
        texts = [m.body_text for m in OutboxMessage.select().where(OutboxMessage.channel == Channel.SMS,
                                                                    OutboxMessage.recipient == MOBILE)]
    assert len(texts) == 1 and "requiert une information complémentaire" in texts[0], texts

    # 6. The driver: « Mes notifications » → « en savoir plus » → the request → « Détail » → « Répondre ».
    menu(driver, "Accueil")
    notice = driver.get_by_role("listitem").filter(has_text="requiert une information complémentaire")
    notice.get_by_role("link", name="en savoir plus").click()
    expect(driver.get_by_role("link", name="Mes demandes en cours")).to_have_attribute("aria-current", "page")
    request_item = driver.get_by_role("article").filter(has_text=REQUEST_TITLE)
    request_item.get_by_text(REQUEST_TITLE).click()
    timeline = request_item.get_by_role("list")
    expect(timeline).to_be_visible()
    for label in ("Envoyée", "En cours d'instruction", "En attente d'information complémentaire"):
        expect(timeline).to_contain_text(label)
    request_item.get_by_text("Détail", exact=True).click()
    asked = request_item.get_by_role("row").filter(has_text="Photo d'identité")
    expect(asked).to_be_visible()
    expect(asked).to_contain_text(PHOTO_REASON)
    request_item.get_by_role("link", name="Répondre").click()

    expect(driver.get_by_role("heading", name="Je réponds à la demande d'information complémentaire")).to_be_visible()
    expect(driver.get_by_role("row").filter(has_text="Photo d'identité")).to_contain_text(PHOTO_REASON)
    new_photo = tmp_path / "photo-nette.png"
    new_photo.write_bytes(png(30, 40, (200, 180, 150)))
    driver.get_by_label("Photo d'identité").set_input_files(new_photo)
    driver.get_by_role("button", name="Répondre").click()
    expect(driver.get_by_text("Votre réponse est envoyée : votre demande est de nouveau en cours de traitement")).to_be_visible()
    expect(driver.get_by_role("article").filter(has_text=REQUEST_TITLE)).to_contain_text("En cours d'instruction")
    deliver()

    # 7. The agent sees what changed, accepts; « Cartes »: « Expédier », then « Déclarer en pli non distribué ».
    staff.reload()
    changes = staff.get_by_text("Ce que le titulaire a modifié en réponse").locator("xpath=..")
    expect(changes).to_contain_text(re.compile(r"Photo d'identité : « photo\.png \(.*\) » → « photo-nette\.png \(.*\) »"))
    expect(changes).to_contain_text(PHOTO_REASON)
    # The page shows the new photo, and the replaced one stays reachable.
    current_photo = staff.get_by_role("img", name="Photo d'identité")
    expect(current_photo).to_be_visible()
    assert staff.request.get(current_photo.get_attribute("src")).body() == new_photo.read_bytes()
    replaced = staff.get_by_role("link", name=re.compile(r"^Photo d'identité du "))
    assert staff.request.get(replaced.get_attribute("href")).body() == photo.read_bytes()
    staff.get_by_role("button", name="Accepter").click()
    expect(staff.get_by_text(re.compile(r"Demande acceptée : la carte n° \d+ est commandée"))).to_be_visible()
    with live.database():
        card = Card.get(Card.user == driver_user.id)
    only_email(deliver(), DRIVER_EMAIL, "Votre demande est acceptée")

    open_menu(staff, "Télédossiers", "Cartes")
    card_row = staff.get_by_role("row").filter(has_text=card.number)
    expect(card_row).to_contain_text("Carte en fabrication")
    card_row.get_by_role("button", name="Expédier").click()
    expect(staff.get_by_text(f"1 carte(s) expédiée(s) : n° {card.number}.")).to_be_visible()
    card_row = staff.get_by_role("row").filter(has_text=card.number)
    card_row.get_by_role("button", name="Déclarer en pli non distribué").click()
    expect(staff.get_by_text(f"1 carte(s) déclarée(s) en pli non distribué : n° {card.number}.")).to_be_visible()
    expect(staff.get_by_role("row").filter(has_text=card.number)).to_contain_text("Pli non distribué")
    mails = deliver()
    only_email(mails, DRIVER_EMAIL, "Votre carte est expédiée")
    mail = only_email(mails, DRIVER_EMAIL, "Votre carte est revenue en pli non distribué")
    assert link_in(mail).startswith(live.url + "/mes-cartes")

    # 8. The driver: « Mes cartes » → the card, « pli non distribué » → Solution 1 → sent again.
    menu(driver, "Mes cartes")
    visual = driver.get_by_role("img", name=f"Carte de qualification de conducteur n° {card.number}")
    expect(visual).to_be_visible()
    for text in (
        "1. MARTIN", "2. ANNE", "3. 19/08/1991 LILLE", f"4a. {date_fr(card.issued_on)}", f"4b. {date_fr(card.expires_on)}",
        "4c. IMPRIMERIE NATIONALE", f"5a. {LICENCE}", f"5b. {card.number}",
    ):
        expect(visual).to_contain_text(text)
    assert card.expires_on == deadlines.add_years(card.issued_on, 5) - dt.timedelta(days=1)
    card_photo = visual.locator(".cqc-photo img")
    assert image_loaded(card_photo)
    assert driver.request.get(card_photo.get_attribute("src")).body() == new_photo.read_bytes()
    item = driver.get_by_role("article").filter(has=visual)
    expect(item).to_contain_text("Pli non distribué")
    item.get_by_role("link", name="pli non distribué").click()
    expect(driver.get_by_role("heading", name="Ma carte est revenue en pli non distribué")).to_be_visible()
    solution = (
        driver.locator("section")
        .filter(has=driver.get_by_role("heading", name="Solution 1"))
        .filter(has_not=driver.get_by_role("heading", name="Solution 2"))
    )
    expect(solution.locator("address")).to_contain_text("12 rue des Lilas")
    expect(solution.locator("address")).to_contain_text("Bâtiment B")
    solution.get_by_role("button", name="Mon adresse est correcte").click()
    expect(driver.get_by_text("Votre adresse est confirmée : votre carte va vous être réexpédiée à cette même adresse.")).to_be_visible()
    expect(driver.get_by_role("article").filter(has=visual)).to_contain_text("Carte expédiée")
    only_email(deliver(), DRIVER_EMAIL, "Votre carte est expédiée")

    # 9. The agent declares it delivered; the driver activates it.
    staff.reload()
    card_row = staff.get_by_role("row").filter(has_text=card.number)
    expect(card_row).to_contain_text("Carte expédiée")
    card_row.get_by_role("button", name="Déclarer livrée").click()
    expect(staff.get_by_text(f"1 carte(s) déclarée(s) livrée(s) : n° {card.number}.")).to_be_visible()

    driver.reload()
    item = driver.get_by_role("article").filter(has=visual)
    expect(item).to_contain_text("Carte livrée")
    item.get_by_role("button", name="Activer ma carte").click()
    expect(driver.get_by_text(f"Votre carte n° {card.number} est activée.")).to_be_visible()
    expect(driver.get_by_role("article").filter(has=visual)).to_contain_text("Carte activée")
    menu(driver, "Accueil")
    expect(driver.get_by_role("heading", name="Suivi de mes demandes")).to_be_visible()
    expect(driver.get_by_text("Aucune demande en cours")).to_be_visible()
