"""Guide 001 « Je fais ma demande de remplacement pour Perte » and « Je consulte mes factures » in a real browser.

A driver whose CQC card is delivered and activated declares its loss step by step (the commitment box is
required, the billing address changed, a step revisited before validation), pays on the sandbox payment
provider's page, receives the original invoice by e-mail and downloads its duplicate from « Mes factures ».
The sandbox posts its signed notification server to server to the live application, as a real provider
would. Staff then take and accept the request in the back office; « Mes cartes » shows the reproduced card.
A second journey pays with the refused test card and starts the payment again from « Reprendre ».
"""
import datetime as dt
import hashlib
import os
import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CHROMIUM, TEST_PASSWORD, only_email, open_menu
from tests.e2e.test_cqc_journey import date_fr, menu, pdf_text, smtp_server  # noqa: F401 (smtp_server: the mailbox keeping attachments)
from tests.e2e.test_guides import field, public_login, staff_login

if not os.path.exists(CHROMIUM):
    pytest.skip(f"Chromium absent ({CHROMIUM}) : tests de bout en bout ignorés.", allow_module_level=True)

DRIVER_EMAIL = "anne.martin@exemple.fr"
CQC_AGENT_EMAIL = "agent.cqc@ingroupe.fr"
AGENT_EMAIL = "agent.remplacements@ingroupe.fr"
LICENCE = "942981379228"
REQUEST_TITLE = "Remplacement de CQC pour perte"
COMMITMENT = "Je déclare la perte de ma carte et je m'engage à la restituer si je venais à la retrouver"
COMMITMENT_ERROR = "Cochez la case pour faire votre déclaration et vous engager à restituer votre carte si vous la retrouvez."
#: The billing address the driver types instead of the account's (pre-filled) one.
BILLING = {
    "Nom ou raison sociale": "Transports Martin SARL",
    "Adresse de facturation": "8 avenue de la Gare",
    "Code postal de facturation": "59100",
    "Commune de facturation": "Roubaix",
}
#: The sandbox's test cards.
ACCEPTED_CARD = "4111 1111 1111 1111"
REFUSED_CARD = "4000 0000 0000 0002"


def amount(text):
    """A pattern for an amount as the pages print it (28,24 € with a non-breaking space)."""
    return re.compile(r"\s".join(re.escape(part) for part in text.split(" ")))


def set_up(live, monkeypatch):
    """An active driver whose CQC card is delivered and activated, an agent for losses, the tariff in force.

    The card is made the real way, through the services: a FIMO recorded, a CQC request sent, taken and
    accepted by a CQC agent, the card shipped, delivered and activated by its holder.
    """
    from models import (
        AccountState,
        Card,
        Dossier,
        Habilitation,
        Procedure,
        Staff,
        StaffRole,
        Tariff,
        User,
    )
    from services import accounts, cards, passwords
    from services import dossiers
    from tests.driver_data import complete_request, fast_pdfs, make_centre, record

    fast_pdfs(monkeypatch)  # the training summary and certificate are not this journey's
    with live.database():
        identity = {
            "email": DRIVER_EMAIL, "last_name": "Martin", "first_name": "Anne", "birth_date": dt.date(1991, 8, 19),
            "birth_place": "Lille", "birth_country": "France", "licence_number": LICENCE, "mobile": "+33612345678",
            "address": "12 rue des Lilas", "address_extra": "", "postal_code": "59000", "city": "Lille",
        }
        user = accounts.register_driver(identity, live.app.config["DRIVER_CONSENTS"])
        User.update(password_hash=passwords.hash_password(TEST_PASSWORD)).where(User.id == user.id).execute()
        Dossier.update(state=AccountState.ACTIVE).where(Dossier.user == user).execute()
        user = User.get_by_id(user.id)

        def agent(email, last_name, *codes):
            member = Staff.create(email=email, role=StaffRole.AGENT, first_name="Bruno", last_name=last_name,
                                  password_hash=passwords.hash_password(TEST_PASSWORD))
            for code in codes:
                Habilitation.create(staff=member, procedure=Procedure.by_code(code))
            return member

        cqc_agent = agent(CQC_AGENT_EMAIL, "Cqc", "CQC")
        agent(AGENT_EMAIL, "Remplacements", "CQC_PERTE")
        Tariff.create(product="CQC_REMPLACEMENT", amount_ht=Decimal("28.24"), vat_rate=Decimal(20),
                      start_date=dt.date(2023, 9, 1))

        record(make_centre(), user)
        dossier = complete_request(user)
        dossiers.take(dossier, cqc_agent)
        card = dossiers.accept(dossier, cqc_agent)
        cards.move(card, "ship", staff=cqc_agent)
        cards.move(Card.get_by_id(card.id), "deliver", staff=cqc_agent)
        cards.move(Card.get_by_id(card.id), "activate", user=user)
        card = Card.get_by_id(card.id)
        assert card.state_label == "Carte activée"
    live.deliver()  # the account's and the first card's e-mails are not this journey's
    return user, card


def start_loss(driver, card):
    """« Mes demandes » → « Remplacement, Echange » → motif « Perte » → « Commencer »."""
    menu(driver, "Mes demandes")
    driver.get_by_role("navigation", name="Rubriques").get_by_role("link", name="Remplacement, Echange").click()
    expect(driver.get_by_role("heading", name="Remplacement, Echange")).to_be_visible()
    expect(driver.get_by_text(f"Carte à remplacer : n° {card.number}")).to_be_visible()
    driver.get_by_role("radio", name=re.compile(r"^Perte\b")).check()
    driver.get_by_role("button", name="Commencer").click()
    expect(driver.get_by_role("heading", name=re.compile(r"Ma déclaration$"))).to_be_visible()


def pay(driver, number):
    """Fill in the sandbox's card form and pay."""
    field(driver, "Numéro de carte").fill(number)
    field(driver, "Date d'expiration (MM/AA)").fill("12/30")
    field(driver, "Cryptogramme visuel").fill("123")
    driver.get_by_role("button", name=amount("Payer 33,89 €")).click()


def expect_sandbox_page(driver):
    expect(driver.get_by_role("heading", name="Bac à sable – paiement par carte")).to_be_visible()
    expect(driver.get_by_role("row", name=re.compile("Montant à payer"))).to_contain_text(amount("33,89 €"))


# --- The journey -------------------------------------------------------------------------------


def test_remplacement_pour_perte_paye_puis_duplicata_de_facture(live, new_page, deliver, monkeypatch):
    from models import Card, CardState, Invoice, Payment, PaymentStatus
    from services import storage

    _, old_card = set_up(live, monkeypatch)

    # 1. The driver logs in and chooses « Remplacement, Echange » → « Perte ».
    driver = new_page()
    driver.goto("/connexion")
    public_login(driver, DRIVER_EMAIL, TEST_PASSWORD)
    expect(driver.get_by_role("heading", name="Mes notifications")).to_be_visible()
    start_loss(driver, old_card)
    expect(driver.get_by_text(f"titulaire de la carte de qualification de conducteur n° {old_card.number}")).to_be_visible()

    # 2. Without ticking the commitment box the step is refused, the French message next to the box.
    commitment = driver.get_by_role("checkbox", name=COMMITMENT)
    expect(commitment).not_to_be_checked()
    field(driver, "Circonstances (facultatif)").fill("Perdue au marché de Wazemmes")
    driver.get_by_role("button", name="Suivant").click()
    expect(driver.get_by_role("heading", name=re.compile(r"Ma déclaration$"))).to_be_visible()
    commitment = driver.get_by_role("checkbox", name=COMMITMENT)
    expect(commitment).to_have_attribute("aria-invalid", "true")
    expect(commitment).to_have_accessible_description(COMMITMENT_ERROR)
    expect(driver.get_by_text(COMMITMENT_ERROR, exact=True)).to_be_visible()
    expect(field(driver, "Circonstances (facultatif)")).to_have_value("Perdue au marché de Wazemmes")
    commitment.check()
    driver.get_by_role("button", name="Suivant").click()

    # 3. The addresses: the delivery address is the account's; the billing address is changed.
    expect(driver.get_by_role("heading", name=re.compile("Mes adresses de livraison et de facturation$"))).to_be_visible()
    expect(field(driver, "Nom du destinataire")).to_have_value("Anne MARTIN")
    expect(field(driver, "Adresse de livraison")).to_have_value("12 rue des Lilas")
    expect(field(driver, "Code postal de livraison")).to_have_value("59000")
    expect(field(driver, "Commune de livraison")).to_have_value("Lille")
    expect(field(driver, "Adresse de facturation")).to_have_value("12 rue des Lilas")
    for label, value in BILLING.items():
        field(driver, label).fill(value)
    driver.get_by_role("button", name="Suivant").click()

    # 4. The summary; back to the addresses (kept) and to the declaration (kept), forward again.
    expect(driver.get_by_role("heading", name=re.compile(r"Récapitulatif$"))).to_be_visible()
    summary = driver.locator(".summary")
    expect(summary).to_contain_text(old_card.number)
    expect(summary).to_contain_text(f"du {date_fr(old_card.issued_on)} au {date_fr(old_card.expires_on)}")
    expect(summary).to_contain_text(COMMITMENT)
    expect(summary).to_contain_text("Perdue au marché de Wazemmes")
    expect(summary).to_contain_text(amount("33,89 € TTC"))
    expect(summary).to_contain_text(amount("28,24 € HT"))
    delivery, billing = summary.locator("address").all()
    expect(delivery).to_contain_text("12 rue des Lilas")
    for value in ("Transports Martin SARL", "8 avenue de la Gare", "59100 Roubaix"):
        expect(billing).to_contain_text(value)

    driver.get_by_role("button", name="Précédent").click()
    expect(driver.get_by_role("heading", name=re.compile("Mes adresses de livraison et de facturation$"))).to_be_visible()
    for label, value in BILLING.items():
        expect(field(driver, label)).to_have_value(value)
    stepper = driver.get_by_role("list", name="Étapes de la demande")
    stepper.get_by_role("link", name=re.compile("Ma déclaration")).click()
    expect(driver.get_by_role("checkbox", name=COMMITMENT)).to_be_checked()
    driver.get_by_role("button", name="Suivant").click()
    driver.get_by_role("button", name="Suivant").click()
    expect(driver.get_by_role("heading", name=re.compile(r"Récapitulatif$"))).to_be_visible()
    expect(driver.locator(".summary address").last).to_contain_text("8 avenue de la Gare")

    # 5. « Valider ma demande » → the sandbox's page shows the amount → the accepted test card.
    driver.get_by_role("button", name="Valider ma demande").click()
    expect_sandbox_page(driver)
    pay(driver, ACCEPTED_CARD)
    expect(driver.get_by_role("heading", name="Paiement accepté")).to_be_visible(timeout=20_000)
    expect(driver.get_by_text(amount("Votre paiement de 33,89 € par carte bancaire est confirmé"))).to_be_visible()

    with live.database():
        [payment] = Payment.select()
        assert payment.status == PaymentStatus.PAID and payment.amount_cents == 3389
        invoice = Invoice.get(Invoice.payment == payment.id)
        stored = storage.read(invoice.pdf_path)
    number = invoice.display_number
    assert number.startswith("FA-")
    expect(driver.get_by_text(f"Votre facture n° {number} vous est envoyée par courrier électronique")).to_be_visible()

    # 6. The original invoice arrives by e-mail, its PDF attached.
    mail = only_email(deliver(), DRIVER_EMAIL, f"Votre facture Hub Pro Transport n° {number}")
    assert "le duplicata reste disponible 10 ans dans « Mes factures »" in mail["text"]
    [(name, content_type, original)] = mail["attachments"]
    assert (name, content_type) == (f"{number}.pdf", "application/pdf")
    assert original == stored
    text = pdf_text(original)
    for words in (number, "28,24", "33,89", "Transports Martin SARL", "8 avenue de la Gare", "59100 Roubaix",
                  "Remplacement"):
        assert words in text, f"« {words} » absent de la facture : {text}"
    # The driver pays for herself: a consumer owes no business-to-business recovery indemnity.
    assert "Indemnité forfaitaire" not in text

    # 7. « Mes demandes en cours »: the request is « Envoyée ».
    driver.get_by_role("link", name="Mes demandes en cours").click()
    request_item = driver.get_by_role("article").filter(has_text=REQUEST_TITLE)
    expect(request_item).to_contain_text("Envoyée")
    expect(request_item.get_by_role("link", name="Afficher")).to_be_visible()

    # 8. « Mes factures »: the invoice, and the icon downloads the duplicate (the stored PDF, unchanged).
    menu(driver, "Mes factures")
    expect(driver.get_by_role("heading", name="Mes factures")).to_be_visible()
    row = driver.get_by_role("row").filter(has_text=number)
    expect(row).to_contain_text(amount("28,24 €"))
    expect(row).to_contain_text(amount("33,89 €"))
    expect(row).to_contain_text("Payée par carte bancaire")
    with driver.expect_download() as download:
        row.get_by_role("link", name=f"Télécharger le duplicata facture {number}").click()
    assert download.value.suggested_filename == f"duplicata-{number}.pdf"
    duplicate = download.value.path().read_bytes()
    assert duplicate.startswith(b"%PDF-")
    assert duplicate == stored
    assert hashlib.sha256(duplicate).hexdigest() == invoice.pdf_sha256

    # 8b. « Mes cartes »: the lost card is « Déclarée perdue » at once (issue 12), its history says who and why.
    menu(driver, "Mes cartes")
    lost = driver.get_by_role("article").filter(
        has=driver.get_by_role("img", name=f"Carte de qualification de conducteur n° {old_card.number}"))
    expect(lost.locator(".card-meta .status").first).to_have_text("Déclarée perdue")
    expect(lost).to_contain_text("elle n'est plus valable et ne peut plus être utilisée")
    expect(lost.get_by_role("button", name="Activer ma carte")).to_have_count(0)
    lost.get_by_text("Historique de la carte").click()
    expect(lost.get_by_text(re.compile(r"Perte déclarée par le titulaire \(demande de remplacement n° \d+\)\. "
                                       "Circonstances : Perdue au marché de Wazemmes"))).to_be_visible()

    # 9. Staff: « Télédossiers » → « Remplacements » → the request → « Prendre en instruction » → « Accepter ».
    staff = new_page()
    staff_login(staff, AGENT_EMAIL)
    open_menu(staff, "Télédossiers", "Remplacements")
    queue_row = staff.get_by_role("row").filter(has_text=old_card.number)
    expect(queue_row).to_contain_text("Perte")
    expect(queue_row).to_contain_text("Envoyée")
    queue_row.get_by_role("link", name="MARTIN Anne").click()
    expect(staff.get_by_role("heading", name=re.compile(f"{REQUEST_TITLE} n° "))).to_contain_text("Envoyée")
    expect(staff.get_by_role("row").filter(has_text=payment.reference)).to_contain_text(number)
    staff.get_by_role("button", name="Prendre en instruction").click()
    expect(staff.get_by_text("Le dossier est pris en instruction.")).to_be_visible()
    staff.get_by_role("button", name="Accepter").click()
    expect(staff.get_by_text(re.compile(r"Demande acceptée : la carte de remplacement n° \d+ est commandée"))).to_be_visible()
    with live.database():
        replaced = Card.get_by_id(old_card.id)
        new_card = replaced.replaced_by
    assert replaced.state == CardState.REMPLACEE
    assert new_card.number != old_card.number
    only_email(deliver(), DRIVER_EMAIL, "Votre demande est acceptée")

    # 10. « Mes cartes »: the new card, a new number and the same validity; the old one is « Carte remplacée ».
    menu(driver, "Mes cartes")
    new_visual = driver.get_by_role("img", name=f"Carte de qualification de conducteur n° {new_card.number}")
    for text in (f"4a. {date_fr(old_card.issued_on)}", f"4b. {date_fr(old_card.expires_on)}", f"5b. {new_card.number}",
                 f"5a. {LICENCE}", "1. MARTIN", "2. ANNE"):
        expect(new_visual).to_contain_text(text)
    expect(driver.get_by_role("article").filter(has=new_visual)).to_contain_text("Carte en fabrication")
    old_visual = driver.get_by_role("img", name=f"Carte de qualification de conducteur n° {old_card.number}")
    expect(driver.get_by_role("article").filter(has=old_visual)).to_contain_text("Carte remplacée")


def test_carte_refusee_puis_reprendre_le_paiement(live, new_page, deliver, monkeypatch):
    from models import Invoice, Payment, PaymentStatus

    _, card = set_up(live, monkeypatch)
    driver = new_page()
    driver.goto("/connexion")
    public_login(driver, DRIVER_EMAIL, TEST_PASSWORD)
    start_loss(driver, card)
    driver.get_by_role("checkbox", name=COMMITMENT).check()
    driver.get_by_role("button", name="Suivant").click()
    driver.get_by_role("button", name="Suivant").click()  # the pre-filled addresses
    driver.get_by_role("button", name="Valider ma demande").click()
    expect_sandbox_page(driver)
    pay(driver, REFUSED_CARD)

    expect(driver.get_by_role("heading", name="Paiement refusé")).to_be_visible()
    expect(driver.get_by_text(amount("Le paiement de 33,89 € a été refusé par votre banque"))).to_be_visible()
    driver.get_by_role("button", name="Reprendre").click()
    expect_sandbox_page(driver)

    with live.database():
        statuses = [p.status for p in Payment.select().order_by(Payment.id)]
        assert statuses == [PaymentStatus.REFUSED, PaymentStatus.PENDING], statuses
        assert Invoice.select().count() == 0
    assert not [m for m in deliver() if m["subject"].startswith("Votre facture")]
    driver.goto("/mes-factures")
    expect(driver.get_by_text("Aucune facture.", exact=False)).to_be_visible()
