"""Tachograph cards (issue 9): the contract requirement, the one-valid-driver-card rule, the wizard, staff orders,
« Mes Cartes », the renewal reminder and the monthly invoice."""
import datetime as dt
import html
import io
from decimal import Decimal

import pytest

from models import (
    Card, CardKind, CardState, Dossier, Invoice, InvoiceLine, Notification, OrgKind, Organisation, ProcedureCode, RequestState, Role,
    TachographRequest, clock as clock_module, deadlines,
)
from services import cards, dossiers, invoices
from services.errors import Refused
from tests.conftest import last_email
from tests.cqc_files import PDF, PNG, make_member
from tests.tachy_data import (
    SUD, accepted, company_driver, company_under_contract, held_card, sent_company_cards, sent_driver_card,
    tachy_tariffs,
)


@pytest.fixture
def staff(make_staff):
    return make_staff(procedures=[ProcedureCode.CONTRAT_TACHY, ProcedureCode.TACHY_CONDUCTEUR,
                                  ProcedureCode.TACHY_ENTREPRISE])


@pytest.fixture
def company(app, staff):
    tachy_tariffs()
    return company_under_contract(staff)


def page_of(response):
    return html.unescape(response.get_data(as_text=True))


# --- The contract requirement ---------------------------------------------------------------------------


def test_no_tachograph_request_before_the_contract_has_its_number(client, login_user, app):
    company = Organisation.create(kind=OrgKind.COMPANY, siret="82345678500026", name="TRANSPORTS MARTIN ET FILS")
    manager = make_member(company, Role.ORG_MANAGER)
    driver = company_driver(company)
    for code, params in ((ProcedureCode.TACHY_CONDUCTEUR, {"company_driver": driver, "reason": "premiere"}),
                         (ProcedureCode.TACHY_ENTREPRISE, {})):
        with pytest.raises(Refused, match="dès que votre contrat TACHY a son numéro"):
            dossiers.start(code, manager, **params)
    login_user(manager)
    page = page_of(client.get("/mes-demandes/?rubrique=faire"))
    assert 'href="/mes-demandes/tachygraphe/conducteur"' not in page and "aria-disabled" in page
    assert "s'ouvrent dès que votre contrat TACHY a son numéro" in page_of(client.get("/mes-demandes/tachygraphe/entreprise"))


# --- The wizard, followed as the pages are posted ------------------------------------------------------


def test_a_manager_requests_a_driver_card_through_the_wizard(client, login_user, company):
    _, admin, manager = company
    driver = company_driver(manager.organisation)
    login_user(manager)
    page = page_of(client.get("/mes-demandes/?rubrique=faire"))
    assert 'href="/mes-demandes/tachygraphe/conducteur"' in page
    page = page_of(client.get(f"/mes-demandes/tachygraphe/conducteur?conducteur={driver.id}"))
    assert "Déclaration de résidence normale en France" in page and "Permis de conduire (verso)" in page
    response = client.post("/mes-demandes/tachygraphe/conducteur", data={"company_driver": driver.id, "reason": "premiere"})
    assert response.status_code == 302
    dossier = Dossier.select().order_by(Dossier.id.desc()).first()
    steps = f"/mes-demandes/tachygraphe/{dossier.id}/etapes"
    assert "VANNEST" in page_of(client.get(f"{steps}/conducteur"))
    client.post(f"{steps}/conducteur", data={"identity_confirmed": "y"})
    page = page_of(client.post(f"{steps}/photo", data={"document": (io.BytesIO(PDF), "photo.pdf")},
                               content_type="multipart/form-data"))
    assert "Format non accepté : seuls les fichiers JPEG et PNG sont acceptés." in page
    for step, data, name in (("photo", PNG, "photo.png"), ("signature", PNG, "signature.png"),
                             ("permis_recto", PDF, "recto.pdf"), ("permis_verso", PDF, "verso.pdf"),
                             ("piece_identite", PDF, "cni.pdf"), ("residence", PDF, "residence.pdf")):
        response = client.post(f"{steps}/{step}", data={"document": (io.BytesIO(data), name)},
                               content_type="multipart/form-data")
        assert response.status_code == 302, step
    page = page_of(client.get(f"{steps}/adresse"))
    assert 'value="5 ZA des Peupliers"' in page and "lettre recommandée" in page
    client.post(f"{steps}/adresse", data={"delivery_name": "TRANSPORTS MARTIN ET FILS", "delivery_address": "5 ZA des Peupliers",
                                          "delivery_postal_code": "59128", "delivery_city": "Flers-en-Escrebieux"})
    summary = page_of(client.get(f"{steps}/recapitulatif"))
    assert "Modifier" in summary and "59,00" in summary and "Demande faite par Claire DURAND" in summary
    response = client.post(f"{steps}/recapitulatif", data={"action": "valider"})
    assert response.headers["Location"].endswith(f"/mes-demandes/tachygraphe/{dossier.id}/envoyee")
    dossier = Dossier.get_by_id(dossier.id)
    assert dossier.state == RequestState.ENVOYEE and dossier.user_id == manager.id
    assert dossier.organisation_id == manager.organisation_id and dossier.price_ht == Decimal("59.00")
    # The administrators see it too; « Afficher » shows the summary.
    client.post("/deconnexion")
    login_user(admin)
    assert f"Demande n° {dossier.id} – Carte tachygraphe conducteur" in page_of(client.get("/mes-demandes/?rubrique=en-cours"))
    assert "VANNEST" in page_of(client.get(f"/mes-demandes/tachygraphe/{dossier.id}"))


def test_a_draft_is_cancelled_and_its_documents_erased(client, login_user, company):
    _, _, manager = company
    driver = company_driver(manager.organisation)
    dossier = dossiers.start(ProcedureCode.TACHY_CONDUCTEUR, manager, company_driver=driver, reason="premiere")
    login_user(manager)
    client.post(f"/mes-demandes/tachygraphe/{dossier.id}/annuler")
    assert Dossier.get_by_id(dossier.id).state == RequestState.ANNULEE
    assert TachographRequest.get(TachographRequest.dossier == dossier).company_driver_id == driver.id


# --- One valid driver card per driver -------------------------------------------------------------------


def test_a_first_card_is_refused_while_the_driver_holds_a_valid_one(company):
    company_org, _, manager = company
    driver = company_driver(company_org)
    held_card(company_org, driver, clock_module.today() + dt.timedelta(days=400))
    with pytest.raises(Refused, match="détient déjà une carte conducteur valide"):
        dossiers.start(ProcedureCode.TACHY_CONDUCTEUR, manager, company_driver=driver, reason="premiere")


def test_the_rule_holds_across_companies(company, staff):
    _, _, manager = company
    other, _, other_manager = company_under_contract(staff, siret=SUD, name="EXPRESS ROUTE SUD", number="TACHY-2")
    mine = company_driver(manager.organisation)
    theirs = company_driver(other)  # the same person, in another company's list
    held_card(other, theirs, clock_module.today() + dt.timedelta(days=400))
    with pytest.raises(Refused, match="détient déjà une carte conducteur valide"):
        dossiers.start(ProcedureCode.TACHY_CONDUCTEUR, manager, company_driver=mine, reason="premiere")


def test_a_request_under_way_for_the_driver_comes_first(company, staff):
    _, _, manager = company
    other, _, other_manager = company_under_contract(staff, siret=SUD, name="EXPRESS ROUTE SUD", number="TACHY-2")
    sent_driver_card(other_manager, company_driver(other))
    with pytest.raises(Refused, match="déjà en cours"):
        dossiers.start(ProcedureCode.TACHY_CONDUCTEUR, manager, company_driver=company_driver(manager.organisation),
                       reason="premiere")


@pytest.mark.parametrize("days_left, allowed", [(120, False), (89, True), (0, True)])
def test_a_renewal_opens_in_the_card_s_last_3_months(company, days_left, allowed):
    company_org, _, manager = company
    driver = company_driver(company_org)
    held_card(company_org, driver, clock_module.today() + dt.timedelta(days=days_left))
    if allowed:
        dossier = dossiers.start(ProcedureCode.TACHY_CONDUCTEUR, manager, company_driver=driver, reason="renouvellement")
        assert dossier.state == RequestState.BROUILLON
    else:
        with pytest.raises(Refused, match="son renouvellement peut être demandé à partir du"):
            dossiers.start(ProcedureCode.TACHY_CONDUCTEUR, manager, company_driver=driver, reason="renouvellement")


@pytest.mark.parametrize("reason", ["perte", "vol", "defaut"])
def test_a_replacement_keeps_the_expiry_and_replaces_the_old_card(company, staff, reason):
    company_org, _, manager = company
    driver = company_driver(company_org)
    expires = clock_module.today() + dt.timedelta(days=700)
    old = held_card(company_org, driver, expires)
    new, = accepted(sent_driver_card(manager, driver, reason), staff)
    assert new.expires_on == expires and new.kind == CardKind.TACHY_CONDUCTEUR
    old = Card.get_by_id(old.id)
    assert old.state == CardState.REMPLACEE and old.replaced_by_id == new.id


@pytest.mark.parametrize("reason, state, said", [("perte", CardState.DECLAREE_PERDUE, "Perte déclarée"),
                                                  ("vol", CardState.DECLAREE_VOLEE, "Vol déclaré")])
def test_sending_a_loss_or_theft_declares_the_driver_card_at_once(client, login_user, company, staff, reason, state,
                                                                  said):
    """Issue 12: the card is marked when the request is sent, with who and why; it then serves only its replacement."""
    from models import CardEvent

    company_org, _, manager = company
    driver = company_driver(company_org)
    old = held_card(company_org, driver, clock_module.today() + dt.timedelta(days=700))
    dossier = dossiers.start(ProcedureCode.TACHY_CONDUCTEUR, manager, company_driver=driver, reason=reason)
    assert Card.get_by_id(old.id).state == CardState.ACTIVEE  # a draft declares nothing
    dossiers.cancel(dossier, manager)
    dossier = sent_driver_card(manager, driver, reason)
    assert Card.get_by_id(old.id).state == state
    step = CardEvent.select().where(CardEvent.card == old.id).order_by(CardEvent.id.desc()).first()
    assert (step.user_id, step.from_state, step.to_state) == (manager.id, CardState.ACTIVEE, state)
    assert step.comment == (f"{said} par {manager.full_name} pour {company_org.name} "
                            f"(demande de remplacement n° {dossier.id})")
    login_user(manager)
    row = page_of(client.get("/mes-cartes/")).split(f'id="carte-{old.id}"')[1].split("</tr>")[0]
    assert ("Déclarée volée" if reason == "vol" else "Déclarée perdue") in row and "Renouveler" not in row
    # Refused, the card stays declared: neither a first card, a renewal nor a defect, but a replacement again.
    dossiers.take(dossier, staff)
    dossiers.reject(Dossier.get_by_id(dossier.id), staff, "Déclaration illisible")
    for other in ("premiere", "renouvellement", "defaut"):
        with pytest.raises(Refused, match="elle ne peut plus être utilisée"):
            dossiers.start(ProcedureCode.TACHY_CONDUCTEUR, manager, company_driver=driver, reason=other)
    new, = accepted(sent_driver_card(manager, driver, "vol"), staff)
    old = Card.get_by_id(old.id)
    assert old.state == CardState.REMPLACEE and old.replaced_by_id == new.id and new.expires_on == old.expires_on


def test_a_replacement_needs_a_delivered_card(company):
    company_org, _, manager = company
    driver = company_driver(company_org)
    with pytest.raises(Refused, match="pas de carte conducteur en cours de validité à remplacer"):
        dossiers.start(ProcedureCode.TACHY_CONDUCTEUR, manager, company_driver=driver, reason="perte")
    held_card(company_org, driver, clock_module.today() + dt.timedelta(days=700), state=CardState.EXPEDIEE)
    with pytest.raises(Refused, match="n'a pas encore été livrée"):
        dossiers.start(ProcedureCode.TACHY_CONDUCTEUR, manager, company_driver=driver, reason="vol")


def test_the_refusal_is_said_on_the_start_page(client, login_user, company):
    company_org, _, manager = company
    driver = company_driver(company_org)
    held_card(company_org, driver, clock_module.today() + dt.timedelta(days=400))
    login_user(manager)
    page = page_of(client.post("/mes-demandes/tachygraphe/conducteur", data={"company_driver": driver.id, "reason": "premiere"}))
    assert "Philippe VANNEST détient déjà une carte conducteur valide" in page
    page = page_of(client.post("/mes-demandes/tachygraphe/conducteur", data={"company_driver": 999999, "reason": "premiere"}))
    assert "Choisissez un conducteur de « Mes Conducteurs »." in page
    page = page_of(client.post("/mes-demandes/tachygraphe/conducteur", data={"company_driver": driver.id}))
    assert "Choisissez le motif de la demande." in page


# --- Staff orders the cards ---------------------------------------------------------------------------


def test_accepting_orders_a_5_year_driver_card_and_the_manager_is_told(client, login_staff, company, staff):
    _, _, manager = company
    dossier = sent_driver_card(manager, company_driver(manager.organisation))
    login_staff(staff)
    url = f"/admin/tachograph_requests/demande/{dossier.id}"
    page = page_of(client.get(url))
    assert "TRANSPORTS MARTIN ET FILS" in page and "Première demande" in page and "TACHY-2026-00042" in page
    client.post(url, data={"decision": "take"})
    response = client.post(url, data={"decision": "accept"}, follow_redirects=True)
    assert "1 carte(s) commandée(s)" in page_of(response)
    card = Card.get(Card.dossier == dossier.id)
    assert card.user_id is None and card.organisation_id == manager.organisation_id
    assert card.expires_on == deadlines.add_years(clock_module.today(), 5) - dt.timedelta(days=1)
    assert card.number.startswith("F") and len(card.number) == 16
    assert Notification.select().where(Notification.user == manager,
                                       Notification.message.contains("est acceptée")).exists()


def test_a_company_request_orders_its_number_of_cards_shipped_by_registered_mail(client, login_staff, company, staff):
    _, _, manager = company
    ordered = accepted(sent_company_cards(manager, count=3), staff)
    assert [c.kind for c in ordered] == [CardKind.TACHY_ENTREPRISE] * 3
    assert {c.last_name for c in ordered} == {"TRANSPORTS MARTIN ET FILS"}
    login_staff(staff)
    response = client.post(f"/admin/cards_admin/carte/{ordered[0].id}/ship", follow_redirects=True)
    assert Card.get_by_id(ordered[0].id).state == CardState.EXPEDIEE
    mail = last_email(manager.email)
    assert mail.subject == "Carte tachygraphe entreprise expédiée" and "lettre recommandée" in mail.body_text


def test_staff_without_the_habilitation_neither_see_nor_move_tachograph_cards(client, login_staff, make_staff, company,
                                                                               staff):
    _, _, manager = company
    card, = accepted(sent_driver_card(manager, company_driver(manager.organisation)), staff)
    login_staff(make_staff(procedures=[ProcedureCode.CQC]))
    assert client.get(f"/admin/tachograph_requests/demande/{card.dossier_id}").status_code == 404
    assert client.get(f"/admin/cards_admin/carte/{card.id}").status_code == 404
    assert client.post(f"/admin/cards_admin/carte/{card.id}/ship").status_code == 404
    assert Card.get_by_id(card.id).state == CardState.EN_FABRICATION


# --- « Mes Cartes », the driver's own account, the renewal reminder ----------------------------------------


def test_mes_cartes_lists_the_company_s_cards_and_a_returned_one_is_sent_again(client, login_user, company, staff):
    company_org, _, manager = company
    card, = accepted(sent_driver_card(manager, company_driver(company_org)), staff)
    cards.move(card, "ship", staff=staff)
    cards.move(Card.get_by_id(card.id), "return", staff=staff)
    login_user(manager)
    page = page_of(client.get("/mes-cartes/"))
    assert "Carte tachygraphe conducteur" in page and "VANNEST PHILIPPE" in page and "Pli non distribué" in page
    client.post(f"/mes-cartes/{card.id}/confirmer-adresse")
    assert Card.get_by_id(card.id).state == CardState.EXPEDIEE


def test_a_driver_with_his_own_account_sees_the_card_ordered_for_him(client, login_user, make_driver, company, staff):
    company_org, _, manager = company
    person = make_driver(state="active", licence_number="13AA00002", birth_date=dt.date(1985, 3, 14))
    card, = accepted(sent_driver_card(manager, company_driver(company_org)), staff)
    other = make_driver(state="active", licence_number="13AA00002", birth_date=dt.date(1986, 3, 14))
    login_user(person)
    page = page_of(client.get("/mes-cartes/"))
    assert "Mes cartes tachygraphe conducteur" in page and card.number in page and "TRANSPORTS MARTIN ET FILS" in page
    client.post("/deconnexion")
    login_user(other)
    assert card.number not in page_of(client.get("/mes-cartes/"))


def test_the_renewal_is_offered_3_months_before_the_end_once(client, login_user, company, clock):
    company_org, admin, manager = company
    driver = company_driver(company_org)
    card = held_card(company_org, driver, clock_module.today() + dt.timedelta(days=120))
    card.dossier = sent_company_cards(manager)  # the reminder goes to who asked for the card
    card.save()
    assert cards.remind_renewals() == 0
    clock.advance(days=31)
    assert cards.remind_renewals() == 1
    assert cards.remind_renewals() == 0
    message = last_email(manager.email)
    assert message.subject == "Carte tachygraphe conducteur à renouveler" and "demandez son renouvellement" in message.body_text
    login_user(manager)
    page = page_of(client.get("/mes-cartes/"))
    assert f"/mes-demandes/tachygraphe/conducteur?conducteur={driver.id}&amp;motif=renouvellement" in \
        client.get("/mes-cartes/").get_data(as_text=True)
    assert "Renouveler" in page


# --- The monthly invoice ------------------------------------------------------------------------------------


def test_the_monthly_invoice_lists_the_cards_issued_at_the_frozen_price(company, staff, monkeypatch):
    from models import Tariff

    company_org, _, manager = company
    driver_file = sent_driver_card(manager, company_driver(company_org))
    company_file = sent_company_cards(manager, count=2)
    Tariff.create(product="TACHY_CONDUCTEUR", amount_ht=Decimal("70.00"), vat_rate=Decimal("20"),
                  start_date=clock_module.today())
    accepted(driver_file, staff)
    accepted(company_file, staff)
    month = clock_module.today().replace(day=1)
    assert invoices.monthly_contract_invoices(month) == 1
    assert invoices.monthly_contract_invoices(month) == 0
    invoice = Invoice.get(Invoice.organisation == company_org)
    lines = list(InvoiceLine.select().where(InvoiceLine.invoice == invoice).order_by(InvoiceLine.id))
    assert len(lines) == 3 and [line.unit_ht for line in lines] == [Decimal("59.00")] * 3
    assert lines[0].description.startswith("Carte tachygraphe conducteur n° F")
    assert "VANNEST PHILIPPE" in lines[0].description
    assert (invoice.total_ht, invoice.total_vat, invoice.total_ttc) == (Decimal("177.00"), Decimal("35.40"),
                                                                        Decimal("212.40"))
    assert invoice.buyer_address.startswith("TRANSPORTS MARTIN ET FILS\n5 ZA des Peupliers")
    assert last_email("compta-82345678500026@exemple.fr").subject.endswith(invoice.display_number)


def test_the_administrator_finds_the_monthly_invoice_in_mes_factures(client, login_user, company, staff):
    company_org, admin, manager = company
    accepted(sent_company_cards(manager, count=2), staff)
    invoices.monthly_contract_invoices(clock_module.today().replace(day=1))
    invoice = Invoice.get(Invoice.organisation == company_org)
    login_user(admin)
    page = page_of(client.get("/mes-factures"))
    assert invoice.display_number in page and "2 cartes tachygraphe délivrées" in page and "141,60" in page
    assert client.get(f"/mes-factures/{invoice.id}/duplicata").mimetype == "application/pdf"
    client.post("/deconnexion")
    login_user(manager)
    assert client.get("/mes-factures").status_code == 403


def test_a_driver_s_own_cards_and_those_ordered_for_him_cost_the_same_queries_however_many(
        client, login_user, make_driver, company, staff):
    from models import CardKind, Organisation, OrgKind
    from tests.test_query_counts import counting

    company_org, _, manager = company
    person = make_driver(state="active", licence_number="13AA00002", birth_date=dt.date(1985, 3, 14))
    own = Card.create(user=person, number="2600000001", category="Marchandises", state=CardState.ACTIVEE,
                      last_name="VANNEST", first_name="PHILIPPE", issued_on=dt.date(2026, 1, 5),
                      expires_on=dt.date(2031, 1, 4))
    first, = accepted(sent_driver_card(manager, company_driver(company_org)), staff)
    login_user(person)

    def shown():
        client.get("/mes-cartes/")
        with counting() as counter:
            page = page_of(client.get("/mes-cartes/"))
        return page, counter.count

    page, one = shown()
    assert f'id="carte-{own.id}"' in page and "Mes cartes tachygraphe conducteur" in page and first.number in page
    other = Organisation.create(kind=OrgKind.COMPANY, siret="55203253400646", name="AUTOCARS DU NORD")
    for n, organisation in enumerate((company_org, other)):
        Card.create(kind=CardKind.TACHY_CONDUCTEUR, organisation=organisation, number=f"F000000000000{n}00",
                    state=CardState.ACTIVEE, last_name="VANNEST", first_name="PHILIPPE", licence_number="13AA00002",
                    birth_date=dt.date(1985, 3, 14), issued_on=dt.date(2026, 1, 5), expires_on=dt.date(2031, 1, 4))
    page, three = shown()
    assert three == one and "AUTOCARS DU NORD" in page and page.count("TRANSPORTS MARTIN ET FILS") >= 2
