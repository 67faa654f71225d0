"""« Mon Contrat » (issue 8): a company subscribes its TACHY contract, staff give its number within 24 hours; a centre
subscribes its CQC contract and attaches other centres, whose CQCs are invoiced to it at the price frozen on each file."""
import datetime as dt
import html
from decimal import Decimal

import pytest

from models.clock import today as today_in_france  # deadlines and dates shown are France's
from models import (
    Approval, Card, Contract, Dossier, Invoice, Notification, OrgKind, Organisation, ProcedureCode, RequestState, Role,
    Tariff, User,
)
from services import analysis, dossiers, invoices, organisations
from services.errors import Refused
from tests.conftest import last_email, outbox_links, path_of
from tests.cqc_files import make_centre, make_member, record_for, sent_request

SUBMITTED = ("Votre contrat TACHY a été pris en compte avec succès. Votre numéro de contrat vous sera communiqué "
             "d'ici 24 heures.")


@pytest.fixture
def company(app, sirene_rows):
    return Organisation.create(kind=OrgKind.COMPANY, siret="82345678500026", name="TRANSPORTS MARTIN ET FILS")


@pytest.fixture
def admin(client, login_user, company):
    person = make_member(company, Role.ORG_ADMIN, email="direction@transports-martin.fr")
    login_user(person)
    return person


def page_of(response):
    return html.unescape(response.get_data(as_text=True))


def subscribe(client):
    """Follow « Mon Contrat » → « Souscrire » → the three steps → « Valider », as the pages are posted."""
    response = client.post("/mon-contrat/")
    assert response.status_code == 302
    dossier = Dossier.select().order_by(Dossier.id.desc()).first()
    steps = f"/mon-contrat/{dossier.id}/etapes"
    client.post(f"{steps}/representant", data={"legal_last_name": "Martin", "legal_first_name": "Jean",
                                                "legal_function": "Gérant"})
    client.post(f"{steps}/facturation", data={
        "billing_name": "TRANSPORTS MARTIN ET FILS", "billing_address": "5 ZA des Peupliers", "billing_address_extra": "",
        "billing_postal_code": "59128", "billing_city": "Flers-en-Escrebieux", "contact_name": "Jean Martin",
        "contact_email": "compta@transports-martin.fr", "contact_phone": "03 27 00 00 00"})
    client.post(f"{steps}/conditions", data={"conditions_accepted": "y"})
    return dossier, client.post(f"{steps}/recapitulatif", data={"action": "valider"}, follow_redirects=True)


def test_the_billing_step_starts_from_the_sirene_register(client, admin):
    client.post("/mon-contrat/")
    dossier = Dossier.get()
    client.post(f"/mon-contrat/{dossier.id}/etapes/representant",
                data={"legal_last_name": "Martin", "legal_first_name": "Jean", "legal_function": "Gérant"})
    page = page_of(client.get(f"/mon-contrat/{dossier.id}/etapes/facturation"))
    assert 'value="TRANSPORTS MARTIN ET FILS"' in page and 'value="59128"' in page and "FLERS-EN-ESCREBIEUX" in page
    assert 'value="direction@transports-martin.fr"' in page


def test_subscribing_tells_the_24_hour_promise_on_the_home_page(client, admin):
    dossier, response = subscribe(client)
    assert SUBMITTED in page_of(response)
    assert Dossier.get_by_id(dossier.id).state == RequestState.ENVOYEE
    assert Dossier.get_by_id(dossier.id).organisation_id == admin.organisation_id
    home = page_of(client.get("/"))
    assert f"{today_in_france():%d/%m/%Y} - {SUBMITTED}" in home
    assert last_email(admin.email).subject == "Votre contrat TACHY a été pris en compte"
    page = page_of(client.get("/mon-contrat/"))
    assert "Votre numéro de contrat vous sera communiqué d'ici 24 heures." in page and "Souscrire" not in page
    # One contract per organisation: another subscription is refused, with the reason.
    assert "Souscrire" not in page_of(client.post("/mon-contrat/", follow_redirects=True))
    with pytest.raises(Refused, match="déjà souscrit"):
        dossiers.start(ProcedureCode.CONTRAT_TACHY, admin)


def test_a_step_left_wrong_says_why_and_the_summary_cannot_be_sent(client, admin):
    client.post("/mon-contrat/")
    dossier = Dossier.get()
    page = page_of(client.post(f"/mon-contrat/{dossier.id}/etapes/representant",
                               data={"legal_last_name": "", "legal_first_name": "Jean", "legal_function": "x" * 121}))
    assert "Ce champ est obligatoire." in page and "120 caractères au maximum." in page and 'value="Jean"' in page
    response = client.get(f"/mon-contrat/{dossier.id}/etapes/recapitulatif")
    assert response.status_code == 302 and response.headers["Location"].endswith("/etapes/representant")
    # The company's administrator has no phone yet: the billing contact's is still to give.
    assert dossiers.missing(dossier) == ["Représentant légal", "Facturation", "Conditions du contrat"]


def test_a_draft_is_resumed_or_cancelled_from_mon_contrat(client, admin):
    client.post("/mon-contrat/")
    dossier = Dossier.get()
    page = page_of(client.get("/mon-contrat/"))
    assert "commencée mais pas encore envoyée" in page and "Reprendre" in page
    client.post(f"/mon-contrat/{dossier.id}/annuler")
    assert Dossier.get_by_id(dossier.id).state == RequestState.ANNULEE
    assert "Souscrire le contrat TACHY" in page_of(client.get("/mon-contrat/"))


@pytest.fixture
def sent_contract(client, admin):
    dossier, _ = subscribe(client)
    client.post("/deconnexion")
    return Dossier.get_by_id(dossier.id)


def test_staff_see_the_contracts_queue_oldest_first_and_late_ones_flagged(client, login_staff, make_staff, clock,
                                                                           sent_contract):
    login_staff(make_staff(procedures=[ProcedureCode.CONTRAT_TACHY]))
    page = page_of(client.get("/admin/contracts/"))
    assert "TRANSPORTS MARTIN ET FILS" in page and "Contrat TACHY d'un établissement" in page
    assert "En retard :" not in page
    clock.advance(hours=25)
    assert "En retard : 25 h" in page_of(client.get("/admin/contracts/"))


def test_the_24_hour_alert_goes_once_to_the_staff_of_the_procedure(app, make_staff, clock, sent_contract):
    agent = make_staff(procedures=[ProcedureCode.CONTRAT_TACHY], email="contrats@ingroupe.fr")
    make_staff(procedures=[ProcedureCode.CQC], email="cqc@ingroupe.fr")
    clock.advance(hours=23)
    assert analysis.alert_overdue()["contracts"] == 0
    clock.advance(hours=2)
    assert analysis.alert_overdue()["contracts"] == 1
    message = last_email(agent.email)
    assert message.subject == "1 contrat(s) en attente de numéro depuis plus de 24 h"
    assert "TRANSPORTS MARTIN ET FILS" in message.body_text and "/admin/contracts/" in message.body_text
    assert last_email("cqc@ingroupe.fr") is None
    assert analysis.alert_overdue()["contracts"] == 0


def test_staff_give_the_number_and_the_company_is_told(client, login_staff, login_user, make_staff, sent_contract, admin):
    login_staff(make_staff(procedures=[ProcedureCode.CONTRAT_TACHY]))
    url = f"/admin/contracts/demande/{sent_contract.id}"
    assert "Donner le numéro de contrat" not in page_of(client.get(url))
    client.post(url, data={"decision": "take"})
    page = page_of(client.get(url))
    assert "Donner le numéro de contrat" in page and "Jean MARTIN, Gérant" in page and "compta@transports-martin.fr" in page
    assert 'value="accept"' not in page
    page = page_of(client.post(url, data={"decision": "number", "number": "ta"}))
    assert "Saisissez le numéro de contrat" in page and 'value="ta"' in page
    response = client.post(url, data={"decision": "number", "number": " tachy-2026-00042 "}, follow_redirects=True)
    assert "Le contrat n° TACHY-2026-00042 est enregistré" in page_of(response)
    assert Dossier.get_by_id(sent_contract.id).state == RequestState.ACCEPTEE
    contract = Contract.get(Contract.dossier == sent_contract.id)
    assert contract.number == "TACHY-2026-00042" and contract.numbered_at is not None
    told = ("Votre contrat TACHY est enregistré sous le numéro TACHY-2026-00042. Vous pouvez désormais faire vos "
            "demandes de cartes tachygraphe.")
    assert Notification.select().where(Notification.message == told).exists()
    assert last_email(admin.email).subject == "Votre numéro de contrat TACHY : TACHY-2026-00042"

    client.get("/admin/deconnexion")
    login_user(admin)
    page = page_of(client.get("/mon-contrat/"))
    for shown in ("TACHY-2026-00042", "Date du contrat", "5 ZA des Peupliers", "59128 Flers-en-Escrebieux",
                  "compta@transports-martin.fr", "03 27 00 00 00"):
        assert shown in page, shown
    assert "Sous votre contrat TACHY n° TACHY-2026-00042." in page_of(client.get("/mes-demandes/?rubrique=faire"))


def test_a_number_is_given_once_and_only_by_habilitated_staff(client, login_staff, make_staff, sent_contract, company):
    login_staff(make_staff(procedures=[ProcedureCode.CQC]))
    assert client.get(f"/admin/contracts/demande/{sent_contract.id}").status_code == 404
    client.get("/admin/deconnexion")
    staff = make_staff(procedures=[ProcedureCode.CONTRAT_TACHY])
    other = Organisation.create(kind=OrgKind.COMPANY, siret="52525252400059", name="EXPRESS ROUTE SUD")
    numbered = dossiers.start(ProcedureCode.CONTRAT_TACHY, make_member(other))
    Contract.update(number="TACHY-1").where(Contract.dossier == numbered).execute()
    dossiers.take(sent_contract, staff)
    with pytest.raises(Refused, match="déjà celui d'un autre contrat"):
        organisations.give_number(sent_contract, staff, "tachy-1")
    organisations.give_number(sent_contract, staff, "TACHY-2")
    with pytest.raises(Refused):
        organisations.give_number(Dossier.get_by_id(sent_contract.id), staff, "TACHY-3")


def test_a_manager_is_told_why_tachograph_requests_are_not_open_yet(client, login_user, company):
    login_user(make_member(company, Role.ORG_MANAGER))
    page = page_of(client.get("/mes-demandes/?rubrique=faire"))
    assert "Carte tachygraphe conducteur" in page and "Carte tachygraphe entreprise" in page
    assert "s'ouvrent dès que votre contrat TACHY a son numéro" in page


# --- A centre's CQC contract and the centres attached to it ------------------------------------------------


@pytest.fixture
def principal(app, sirene_rows, make_staff):
    """FORMATRANS with its numbered CQC contract, and its administrator."""
    centre = make_centre()
    admin = make_member(centre, Role.ORG_ADMIN, email="direction@formatrans.fr")
    dossier = dossiers.start(ProcedureCode.CONTRAT_CQC, admin)
    Contract.update(legal_last_name="Durand", legal_first_name="Anne", legal_function="Directrice",
                    billing_address="12 rue des Frères Beaumont", billing_postal_code="59000", billing_city="Lille",
                    contact_name="Service comptable", contact_email="compta@formatrans.fr", contact_phone="0320000000",
                    conditions_accepted=True).where(Contract.dossier == dossier).execute()
    dossiers.validate(Dossier.get_by_id(dossier.id), admin)
    staff = make_staff(procedures=[ProcedureCode.CONTRAT_CQC])
    dossiers.take(Dossier.get_by_id(dossier.id), staff)
    organisations.give_number(Dossier.get_by_id(dossier.id), staff, "CQC-2026-0007")
    return centre, admin


VOYAGEURS = "40073444800477"


def approve(siret=VOYAGEURS):
    Approval.create(siret=siret, number="AGR-VOY", category="Voyageurs", trainings="FIMO,Passerelle,FCO",
                    email="cfa-lyon@exemple.fr", granted_on=dt.date(2021, 12, 28))


@pytest.mark.parametrize("siret, message", [
    ("4007344480047", "Le numéro de SIRET doit comporter 14 chiffres"),
    ("40073444800478", "clé de contrôle"),
    ("44455566800045", "Aucun agrément n'est enregistré pour ce SIRET"),
    ("51234567900017", "Cet établissement est fermé"),
    ("47728084603753", "Un compte Hub Pro Transport existe déjà pour ce SIRET"),
])
def test_an_invitation_needs_an_approved_active_centre_without_account(client, login_user, principal, siret, message):
    approve()
    login_user(principal[1])
    page = page_of(client.post("/mon-contrat/etablissements-rattaches", data={"siret": siret}))
    assert message in page, page[page.find('class="error"'):][:300]
    assert f'value="{siret}"' in page


def test_the_invited_centre_creates_its_account_from_the_e_mail_and_is_attached(client, login_user, principal):
    centre, admin = principal
    approve()
    login_user(admin)
    response = client.post("/mon-contrat/etablissements-rattaches", data={"siret": "400 734 448 00477"},
                           follow_redirects=True)
    assert "L'invitation est envoyée à l'adresse de l'agrément du centre (cfa-lyon@exemple.fr)" in page_of(response)
    assert "En attente de création du compte" in page_of(client.get("/mon-contrat/"))
    message = last_email("cfa-lyon@exemple.fr")
    assert "rattache votre organisme" in message.body_text and "FORMATRANS" in message.body_text
    link = path_of(outbox_links(message)[0])
    assert link == "/creer-un-compte/centre?siret=40073444800477"
    client.post("/deconnexion")

    form = page_of(client.get(link))
    assert 'value="40073444800477"' in form and "CFA TRANSPORT VOYAGEURS" in form
    client.post(link, data={"siret": VOYAGEURS, "last_name": "Roux", "first_name": "Léa",
                            "email": "direction@cfa-voyageurs.fr", "email_confirm": "direction@cfa-voyageurs.fr",
                            "consent_cgu": "y", "consent_rgpd": "y", "consent_cgv": "y"})
    attached = Organisation.get(Organisation.siret == VOYAGEURS)
    assert attached.principal_id == centre.id
    assert Notification.select().where(Notification.user == admin, Notification.message.contains("CFA TRANSPORT VOYAGEURS")).exists()

    member = User.get(User.email == "direction@cfa-voyageurs.fr")
    User.update(password_hash=User.get_by_id(admin.id).password_hash).where(User.id == member.id).execute()
    login_user(member)
    page = page_of(client.get("/mon-contrat/"))
    assert "rattaché au contrat CQC de l'établissement principal <strong>FORMATRANS</strong>" in page
    assert "contrat n° <strong>CQC-2026-0007</strong>" in page
    assert "Souscrire" not in page
    with pytest.raises(Refused, match="rattaché au contrat de FORMATRANS"):
        dossiers.start(ProcedureCode.CONTRAT_CQC, member)


def test_no_invitation_before_the_contract_has_its_number(client, login_user, app):
    centre = make_centre()
    login_user(make_member(centre, Role.ORG_ADMIN))
    assert "Établissements rattachés" not in page_of(client.get("/mon-contrat/"))
    page = page_of(client.post("/mon-contrat/etablissements-rattaches", data={"siret": VOYAGEURS}, follow_redirects=True))
    assert "Votre contrat CQC doit d'abord avoir son numéro" in page


def test_the_attached_centre_s_cqcs_are_on_the_principal_s_invoice_at_the_frozen_price(
        app, principal, make_driver, make_staff, monkeypatch):
    from services import documents
    from tests.cqc_files import PDF

    monkeypatch.setattr(documents, "summary_pdf", lambda training: PDF)
    monkeypatch.setattr(documents, "certificate_pdf", lambda certificate: PDF)
    centre, admin = principal
    Tariff.create(product="CQC", amount_ht=Decimal("28.24"), vat_rate=Decimal("20"), start_date=dt.date(2023, 9, 1))
    attached = make_centre(siret=VOYAGEURS, name="CFA TRANSPORT VOYAGEURS", categories=("Voyageurs",))
    Organisation.update(principal=centre).where(Organisation.id == attached.id).execute()
    trainees = [make_driver(state="active", first_name=name) for name in ("Léa", "Marc")]
    record_for(centre, trainees[0])
    record_for(attached, trainees[1], category="Voyageurs")
    files = [sent_request(trainee) for trainee in trainees]
    assert [f.price_ht for f in files] == [Decimal("28.24")] * 2
    # The tariff changes between the sending and the issue of the cards: the frozen price holds.
    Tariff.create(product="CQC", amount_ht=Decimal("31.00"), vat_rate=Decimal("20"), start_date=dt.date.today())
    staff = make_staff(procedures=[ProcedureCode.CQC])
    for dossier in files:
        dossiers.take(dossier, staff)
        dossiers.accept(Dossier.get_by_id(dossier.id), staff)
    month = Card.select().first().issued_on.replace(day=1)
    assert invoices.monthly_contract_invoices(month) == 1
    invoice = Invoice.get()
    assert invoice.organisation_id == centre.id and invoice.buyer_name == "FORMATRANS"
    assert invoice.buyer_address.startswith("FORMATRANS\n12 rue des Frères Beaumont\n59000 Lille")
    lines = sorted(invoice.lines, key=lambda line: line.description)
    assert [line.unit_ht for line in lines] == [Decimal("28.24")] * 2
    assert "CFA TRANSPORT VOYAGEURS (SIRET 40073444800477)" in lines[1].description + lines[0].description
    assert not Invoice.select().where(Invoice.organisation == attached).exists()
    assert last_email("compta@formatrans.fr").subject.endswith(invoice.display_number)
