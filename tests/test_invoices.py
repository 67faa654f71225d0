"""Invoices and credit notes: the PDF's mentions, « Mes factures », duplicates, the 10-year purge, the
centres' monthly invoice, and the back office « Finances »."""
import csv
import datetime as dt
import io
import json
import os
import shutil
from decimal import Decimal

import pytest

from models import (
    Card, CardState, CqcRequest, Invoice, InvoiceKind, InvoiceSequence, Organisation, OutboxMessage, Payment, PaymentNotification, PaymentStatus, Role,
    SireneEstablishment, StaffRole, Tariff, Training, User,
)
from models import clock as clock_module
from services import invoices, passwords, dossiers, payments, storage, transitions
from tests.conftest import TEST_PASSWORD, last_email
from tests.money_data import PRICE_CENTS, make_tariff, notification, pdf_text, pending_payment


@pytest.fixture(autouse=True)
def wkhtmltopdf():
    if shutil.which("wkhtmltopdf") is None:
        pytest.skip("wkhtmltopdf n'est pas installé")


@pytest.fixture
def driver(make_driver):
    make_tariff()
    return make_driver(state="active", first_name="Éloïse", last_name="Lefèvre", address="3 place de l'Église",
                       postal_code="42000", city="Saint-Étienne")


def pay(user):
    """Start and confirm a payment for a new replacement file of this driver; return its invoice."""
    payment = pending_payment(user)
    dossiers.settle_payment(notification(payment))
    return Invoice.get(Invoice.payment == payment.id)


@pytest.fixture
def invoice(driver):
    return pay(driver)


@pytest.fixture
def local_admin(make_staff, login_staff):
    member = make_staff(role=StaffRole.LOCAL_ADMIN, email="chef@ingroupe.fr")
    login_staff(member)
    return member


# --- The PDF ---------------------------------------------------------------------------------------


def test_the_invoice_pdf_carries_every_mention(app, invoice, driver):
    data = storage.read(invoice.pdf_path)
    assert storage.digest(data) == invoice.pdf_sha256
    text = pdf_text(data)
    seller = invoices.seller()
    assert seller["vat_number"] == "FR" + f"{int('41049449612') % 97:02d}" + "410494496"
    for mention in [
        "Facture", "N° FA-00000001", "IN Groupe", "104 avenue du Président Kennedy, 75016 Paris",
        "SIREN : 410494496", f"N° de TVA intracommunautaire : {seller['vat_number']}",
        # The buyer, accents intact, at the address of the account.
        "Éloïse LEFÈVRE", "3 place de l'Église", "42000 Saint-Étienne",
        f"Date d'émission {clock_module.today():%d/%m/%Y}", f"Date d'échéance {invoice.due_on:%d/%m/%Y}",
        # The line: description, quantity, unit price HT, VAT rate, total HT.
        "Remplacement de carte de qualification de conducteur 1 28,24 € 20 % 28,24 €",
        "Total HT 28,24 €", "TVA 20 % sur 28,24 € 5,65 €", "Total TTC 33,89 €",
        f"Payée par carte bancaire le {clock_module.today():%d/%m/%Y}",
    ]:
        assert mention in text, mention
    # A consumer owes neither the late-payment penalties nor the recovery indemnity of the code de commerce.
    for business_only in ("Indemnité forfaitaire", "frais de recouvrement", "40 €", "Pénalités de retard", "escompte"):
        assert business_only not in text, business_only
    assert invoice.due_on == clock_module.today() + dt.timedelta(days=invoices.PAYMENT_TERM_DAYS)
    # HT + TVA = TTC, on the row and on the page.
    assert invoice.total_ht + invoice.total_vat == invoice.total_ttc == Decimal(PRICE_CENTS) / 100


def test_the_original_is_emailed_with_the_stored_pdf(invoice, driver):
    mail = OutboxMessage.get(OutboxMessage.recipient == driver.email, OutboxMessage.subject.contains("Votre facture"))
    assert mail.subject == "Votre facture Hub Pro Transport n° FA-00000001"
    attachment, = json.loads(mail.attachments)
    assert attachment == {"path": invoice.pdf_path, "filename": "FA-00000001.pdf", "content_type": "application/pdf"}
    assert "33,89 € TTC" in " ".join(mail.body_text.split())


def test_a_credit_note_takes_the_next_number_with_negative_amounts(invoice, make_staff):
    staff = make_staff(role=StaffRole.LOCAL_ADMIN)
    note = invoices.credit_note(invoice, staff, "Double paiement")
    assert (note.number, note.kind, note.display_number, note.credits_id) == (2, InvoiceKind.CREDIT_NOTE, "AV-00000002", invoice.id)
    assert (note.total_ht, note.total_vat, note.total_ttc) == (Decimal("-28.24"), Decimal("-5.65"), Decimal("-33.89"))
    text = pdf_text(storage.read(note.pdf_path))
    for mention in ["Avoir", "N° AV-00000002", "Avoir sur la facture n° FA-00000001", "Double paiement",
                    "Total HT -28,24 €", "TVA 20 % sur -28,24 € -5,65 €", "Total TTC -33,89 €", "Éloïse LEFÈVRE",
                    "SIREN : 410494496"]:
        assert mention in text, mention
    with pytest.raises(ValueError):
        invoices.credit_note(invoice, staff, "encore")
    with pytest.raises(ValueError):
        invoices.credit_note(note, staff, "un avoir sur un avoir")
    assert Invoice.select().count() == 2


def test_a_second_credit_note_on_an_invoice_is_refused_by_the_database(invoice, make_staff, monkeypatch):
    staff = make_staff(role=StaffRole.LOCAL_ADMIN)
    invoices.credit_note(invoice, staff, "Double paiement")
    # A double click: the second request looked for a credit note before the first one was committed.
    monkeypatch.setattr(Invoice, "credit_notes", property(lambda self: Invoice.select().where(Invoice.id < 0)))
    with pytest.raises(ValueError, match="déjà un avoir"):
        invoices.credit_note(invoice, staff, "Double paiement")
    assert Invoice.select().count() == 2
    assert InvoiceSequence.get_by_id(1).last_number == 2  # the refused one gave its number back: no gap


# --- « Mes factures » -----------------------------------------------------------------------------------


def test_mes_factures_lists_the_holders_invoices_and_serves_the_stored_duplicate(client, login_user, invoice, driver, make_staff):
    note = invoices.credit_note(invoice, make_staff(role=StaffRole.LOCAL_ADMIN), "Erreur de saisie")
    login_user(driver)
    page = client.get("/mes-factures").get_data(as_text=True)
    assert "Mes factures" in page and "FA-00000001" in page and "AV-00000002" in page
    for amount in ("28,24\u00a0€", "5,65\u00a0€", "33,89\u00a0€", "-33,89\u00a0€"):
        assert amount in page
    assert "disponible pour une durée de 10 ans" in page
    response = client.get(f"/mes-factures/{invoice.id}/duplicata")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data == storage.read(invoice.pdf_path)
    assert response.headers["Content-Disposition"].startswith('attachment; filename="duplicata-FA-00000001.pdf"')
    assert client.get(f"/mes-factures/{note.id}/duplicata").data == storage.read(note.pdf_path)


def test_another_driver_sees_none_of_them(client, login_user, invoice, make_driver):
    login_user(make_driver(state="active"))
    page = client.get("/mes-factures").get_data(as_text=True)
    assert "FA-00000001" not in page and "Aucune facture" in page
    assert client.get(f"/mes-factures/{invoice.id}/duplicata").status_code == 404
    assert client.get("/mes-factures/999/duplicata").status_code == 404


def test_a_duplicate_whose_stored_pdf_changed_is_not_served(client, login_user, invoice, driver, caplog):
    with open(storage.full_path(invoice.pdf_path), "ab") as handle:
        handle.write(b"%altered")
    login_user(driver)
    assert client.get(f"/mes-factures/{invoice.id}/duplicata").status_code == 500
    assert "FA-00000001" in caplog.text and "SHA-256" in caplog.text


@pytest.fixture
def centre_with_card(app, make_driver):
    """A centre, its administrator, and a CQC card issued last month for one of its trainees."""
    Tariff.create(product="CQC", amount_ht=Decimal("28.24"), vat_rate=Decimal("20"), start_date=dt.date(2023, 9, 1))
    centre = Organisation.create(kind="centre", siret="47728084603753", name="FORMATRANS Saint-Étienne")
    SireneEstablishment.create(siret=centre.siret, name=centre.name, state="A", address="12 rue de la Forêt",
                               postal_code="42100", city="Saint-Étienne")
    admin = User.create(email="direction@formatrans.fr", role=Role.ORG_ADMIN, organisation=centre,
                        last_name="Durand", first_name="Anne")
    trainee = make_driver(state="active", first_name="Éloïse", last_name="Lefèvre")
    month_start = (clock_module.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    card = issue_card(centre, trainee, "23000042", month_start + dt.timedelta(days=14))
    return centre, admin, card, month_start


def issue_card(centre, user, number, issued_on):
    """Build the chain centre → training → CQC request → file → card directly."""
    driver = user.driver
    training = Training.create(
        centre=centre, kind="FIMO", category="Marchandises", start_date=issued_on - dt.timedelta(days=60),
        end_date=issued_on - dt.timedelta(days=30), last_name=user.last_name, first_name=user.first_name,
        birth_date=driver.birth_date, licence_number=driver.licence_number, user=user,
    )
    dossier = transitions.open_dossier("CQC", user)
    CqcRequest.create(dossier=dossier, training=training)
    return Card.create(
        user=user, dossier=dossier, number=number, category="Marchandises", state=CardState.EN_FABRICATION,
        last_name=user.last_name, first_name=user.first_name, birth_date=driver.birth_date, birth_place=driver.birth_place,
        licence_number=driver.licence_number, issued_on=issued_on, expires_on=issued_on + dt.timedelta(days=5 * 365),
    )


def test_the_monthly_centre_invoice_lists_the_cards_of_its_trainees_once(runner, centre_with_card, make_driver):
    centre, admin, card, month_start = centre_with_card
    other = Organisation.create(kind="centre", siret="35600000000048", name="Autre centre")
    issue_card(other, make_driver(state="active"), "23000099", month_start + dt.timedelta(days=3))
    issue_card(centre, make_driver(state="active"), "23000100", month_start - dt.timedelta(days=1))  # the month before
    assert "'monthly': 2" in runner.invoke(args=["jobs", "run-once", "invoices"]).output
    assert "'monthly': 0" in runner.invoke(args=["jobs", "run-once", "invoices"]).output
    invoice = Invoice.get(Invoice.organisation == centre)
    assert Invoice.select().where(Invoice.organisation == centre).count() == 1
    assert invoice.period == month_start and invoice.buyer_name == "FORMATRANS Saint-Étienne" and invoice.payment_id is None
    line, = invoice.lines
    assert "CQC n° 23000042" in line.description and "LEFÈVRE" not in line.description and "Lefèvre Éloïse" in line.description
    assert (invoice.total_ht, invoice.total_ttc) == (Decimal("28.24"), Decimal("33.89"))
    text = pdf_text(storage.read(invoice.pdf_path))
    assert "CQC n° 23000042" in text and "23000099" not in text and "23000100" not in text
    assert "FORMATRANS Saint-Étienne 12 rue de la Forêt 42100 Saint-Étienne SIRET 47728084603753" in text
    assert f"Période {month_start:%m/%Y}" in text and "À régler au plus tard le" in text and "Payée par carte" not in text
    # A business buyer: the mentions of the code de commerce.
    assert "Pénalités de retard : taux d'intérêt de la BCE majoré de 10 points" in text
    assert "Indemnité forfaitaire pour frais de recouvrement : 40 €" in text
    assert last_email("direction@formatrans.fr").subject.endswith(invoice.display_number)


def test_a_second_monthly_invoice_of_a_holder_is_refused_by_the_database(centre_with_card, monkeypatch):
    centre, admin, card, month_start = centre_with_card
    assert invoices.monthly_contract_invoices(month_start) == 1
    # Two runs at once: the second one looked for the month's invoice before the first one was committed.
    monkeypatch.setattr(invoices, "month_invoiced", lambda organisation, month: False)
    assert invoices.monthly_contract_invoices(month_start) == 0
    assert Invoice.select().where(Invoice.organisation == centre).count() == 1
    assert InvoiceSequence.get_by_id(1).last_number == 1


def test_the_centre_administrator_sees_the_organisations_invoices(app, client, centre_with_card, invoice):
    centre, admin, card, month_start = centre_with_card
    invoices.monthly_contract_invoices(month_start)
    monthly = Invoice.get(Invoice.organisation == centre)
    User.update(password_hash=passwords.hash_password(TEST_PASSWORD)).where(User.id == admin.id).execute()
    client.post("/connexion", data={"email": admin.email, "password": TEST_PASSWORD})
    page = client.get("/mes-factures").get_data(as_text=True)
    assert monthly.display_number in page and "1 carte CQC délivrée" in page
    assert invoice.display_number not in page  # the driver's own invoice
    assert client.get(f"/mes-factures/{monthly.id}/duplicata").data == storage.read(monthly.pdf_path)
    assert client.get(f"/mes-factures/{invoice.id}/duplicata").status_code == 404
    # A manager of the same centre has no « Mes factures ».
    User.update(role=Role.ORG_MANAGER).where(User.id == admin.id).execute()
    assert client.get("/mes-factures").status_code == 403


# --- Ten years ------------------------------------------------------------------------------------


def test_invoices_are_purged_after_10_years(runner, client, login_user, invoice, driver, clock):
    path = storage.full_path(invoice.pdf_path)
    assert "'purged': 0" in runner.invoke(args=["jobs", "run-once", "invoices"]).output
    clock.advance(days=3650 - 10)
    login_user(driver)
    assert "FA-00000001" in client.get("/mes-factures").get_data(as_text=True)
    assert "'purged': 0" in runner.invoke(args=["jobs", "run-once", "invoices"]).output
    clock.advance(days=20)  # 3660 days: past 10 years
    assert "FA-00000001" not in client.get("/mes-factures").get_data(as_text=True)
    assert client.get(f"/mes-factures/{invoice.id}/duplicata").status_code == 404
    assert "'purged': 1" in runner.invoke(args=["jobs", "run-once", "invoices"]).output
    kept = Invoice.get_by_id(invoice.id)
    assert kept.pdf_path is None and kept.number == 1  # the accounting row keeps its place in the sequence
    assert not os.path.exists(path)
    assert "'purged': 0" in runner.invoke(args=["jobs", "run-once", "invoices"]).output


# --- Back office « Finances » ---------------------------------------------------------------------------


def test_tariffs_are_created_never_edited(client, local_admin):
    tomorrow = clock_module.today() + dt.timedelta(days=1)
    response = client.post("/admin/tariffs/new/", data={
        "product": "CQC", "amount_ht": "29,50", "vat_rate": "20", "start_date": tomorrow.isoformat(),
    }, follow_redirects=True)
    assert "Nouveau tarif" in response.get_data(as_text=True)
    tariff = Tariff.get()
    assert (tariff.product, tariff.amount_ht, tariff.start_date) == ("CQC", Decimal("29.50"), tomorrow)
    page = client.get("/admin/tariffs/").get_data(as_text=True)
    assert "29,50" in page and "À venir" in page and "/admin/tariffs/edit/" not in page
    client.post(f"/admin/tariffs/edit/?id={tariff.id}", data={"product": "CQC", "amount_ht": "1", "vat_rate": "20",
                                                              "start_date": tomorrow.isoformat()})
    assert Tariff.get_by_id(tariff.id).amount_ht == Decimal("29.50")
    past = client.post("/admin/tariffs/new/", data={
        "product": "CQC", "amount_ht": "10", "vat_rate": "20", "start_date": "2020-01-01",
    }).get_data(as_text=True)
    assert "ne peut pas être passée" in past and Tariff.select().count() == 1


def test_payments_list_filters_by_status_and_shows_the_notifications(client, local_admin, driver):
    paid = pending_payment(driver)
    dossiers.settle_payment(notification(paid))
    pending = pending_payment(driver)
    with pytest.raises(payments.PaymentError):
        dossiers.settle_payment(notification(pending, amount="1"))
    listing = client.get("/admin/payments_admin/?flt0_0=paid").get_data(as_text=True)
    assert paid.reference in listing and pending.reference not in listing
    listing = client.get("/admin/payments_admin/?flt0_0=pending").get_data(as_text=True)
    assert pending.reference in listing and paid.reference not in listing
    detail = client.get(f"/admin/payments_admin/paiement/{pending.id}").get_data(as_text=True)
    assert "montant incorrect" in detail and "En attente" in detail
    detail = client.get(f"/admin/payments_admin/paiement/{paid.id}").get_data(as_text=True)
    assert "appliquée" in detail and "FA-00000001" in detail
    log = client.get("/admin/payment_notifications/?flt0_0=0").get_data(as_text=True)
    assert "montant incorrect" in log and "appliquée" not in log
    assert PaymentNotification.select().count() == 2


def test_staff_issue_a_credit_note_and_search_invoices(client, local_admin, invoice, driver):
    listing = client.get("/admin/invoices_admin/?search=FA-00000001").get_data(as_text=True)
    assert "FA-00000001" in listing and "Émettre un avoir" in listing
    assert "FA-00000001" in client.get("/admin/invoices_admin/?search=Éloïse").get_data(as_text=True)
    assert "FA-00000001" not in client.get("/admin/invoices_admin/?search=Dupont").get_data(as_text=True)
    form = client.get(f"/admin/invoices_admin/avoir/{invoice.id}").get_data(as_text=True)
    assert 'name="reason"' in form and "Émettre un avoir sur la facture FA-00000001" in form
    empty = client.post(f"/admin/invoices_admin/avoir/{invoice.id}", data={"reason": " "})
    assert "Indiquez le motif" in empty.get_data(as_text=True) and Invoice.select().count() == 1
    done = client.post(f"/admin/invoices_admin/avoir/{invoice.id}", data={"reason": "Geste commercial"}, follow_redirects=True)
    assert "Avoir AV-00000002 émis" in done.get_data(as_text=True)
    note = Invoice.get(Invoice.kind == InvoiceKind.CREDIT_NOTE)
    assert note.credits_id == invoice.id and note.user_id == driver.id
    again = client.post(f"/admin/invoices_admin/avoir/{invoice.id}", data={"reason": "bis"}, follow_redirects=True)
    assert "ne peut pas recevoir d&#39;avoir" in again.get_data(as_text=True) and Invoice.select().count() == 2
    pdf = client.get(f"/admin/invoices_admin/pdf/{note.id}?telecharger=1")
    assert pdf.data == storage.read(note.pdf_path) and "AV-00000002.pdf" in pdf.headers["Content-Disposition"]


def test_the_csv_export_of_a_period(client, local_admin, invoice, driver):
    invoices.credit_note(invoice, local_admin, "Erreur")
    Invoice.update(buyer_name="=HYPERLINK(1)").where(Invoice.id == pay(driver).id).execute()
    today = clock_module.today()
    response = client.get(f"/admin/invoices_admin/export.csv?du={today.isoformat()}&au={today.isoformat()}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";"))
    reference = Payment.get_by_id(invoice.payment_id).reference
    assert rows[0] == ["Numéro", "Type", "Date", "Client", "Montant HT", "TVA", "Montant TTC", "Référence du paiement"]
    assert rows[1] == ["FA-00000001", "Facture", f"{today:%d/%m/%Y}", "Éloïse LEFÈVRE", "28,24", "5,65", "33,89", reference]
    assert rows[2] == ["AV-00000002", "Avoir", f"{today:%d/%m/%Y}", "Éloïse LEFÈVRE", "-28,24", "-5,65", "-33,89", ""]
    assert rows[3][0] == "FA-00000003" and rows[3][3] == "'=HYPERLINK(1)"
    assert len(rows) == 4
    yesterday = today - dt.timedelta(days=1)
    before = client.get(f"/admin/invoices_admin/export.csv?du={yesterday.isoformat()}&au={yesterday.isoformat()}")
    assert before.data.decode("utf-8-sig").splitlines() == [";".join(rows[0])]


def test_finances_are_for_local_administrators(client, login_staff, make_staff, invoice):
    login_staff(make_staff(procedures=["CQC_PERTE"]))
    for url in ("/admin/tariffs/", "/admin/payments_admin/", "/admin/invoices_admin/", "/admin/payment_notifications/",
                f"/admin/invoices_admin/pdf/{invoice.id}", "/admin/invoices_admin/export.csv?du=2024-01-01&au=2024-12-31"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/admin/invoices_admin/avoir/{invoice.id}", data={"reason": "x"}).status_code == 403
    assert Invoice.select().count() == 1 and Payment.get().status == PaymentStatus.PAID


# --- Issue 12: « Mes factures » a page at a time --------------------------------------------------------------


def many_invoices(user, count):
    """Give the holder `count` invoices of one line, one a day; return their ids newest first."""
    from models import InvoiceLine

    made = []
    for n in range(count):
        invoice = Invoice.create(
            number=100 + n, user=user, issued_at=dt.datetime.combine(clock_module.today(), dt.time()) - dt.timedelta(days=n),
            due_on=clock_module.today(), buyer_name="Éloïse LEFÈVRE", buyer_address="3 place de l'Église",
            total_ht=Decimal("28.24"), total_vat=Decimal("5.65"), total_ttc=Decimal("33.89"))
        InvoiceLine.create(invoice=invoice, description=f"Remplacement n° {n}", unit_ht=Decimal("28.24"),
                           vat_rate=Decimal("20"), total_ht=Decimal("28.24"))
        made.append(invoice.id)
    return made


def invoices_listed(page):
    import re

    return [int(n) for n in re.findall(r'<tr id="facture-(\d+)">', page)]


def test_mes_factures_is_paginated_20_a_page(client, login_user, driver):
    ids = many_invoices(driver, 23)
    login_user(driver)
    first = client.get("/mes-factures").get_data(as_text=True)
    assert invoices_listed(first) == ids[:20] and "Page 1 sur 2" in first and "Remplacement n° 0" in first
    assert 'href="/mes-factures?page=2" rel="next">Page suivante' in first
    second = client.get("/mes-factures?page=2").get_data(as_text=True)
    assert invoices_listed(second) == ids[20:] and "Remplacement n° 22" in second
    assert 'href="/mes-factures?page=1" rel="prev"' in second


@pytest.mark.parametrize("asked, number", [("0", 1), ("deux", 1), ("-2", 1), ("3", 2), ("123456789012345678901234", 2)])
def test_mes_factures_brings_a_page_number_back_to_the_list(client, login_user, driver, asked, number):
    ids = many_invoices(driver, 23)
    login_user(driver)
    response = client.get(f"/mes-factures?page={asked}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and f"Page {number} sur 2" in page
    assert invoices_listed(page) == ids[(number - 1) * 20:number * 20]
