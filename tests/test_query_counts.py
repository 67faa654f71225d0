"""No N+1 (issue 10): each page costs the same number of SQL queries for a holder with 1 file and one with 30."""
import contextlib
import datetime as dt
import logging

import pytest

from models import (
    Card, CardEvent, CardState, CqcRequest, Dossier, DossierEvent, Invoice, InvoiceLine, Notification, Payment,
    ProcedureCode, Replacement, RequestState, clock,
)
from services import transitions
from tests.cqc_files import make_centre, record_for
from tests.tachy_data import company_driver, company_under_contract, tachy_tariffs


class QueryCounter(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record):
        self.count += 1


@contextlib.contextmanager
def counting():
    """Count the SQL statements peewee runs inside the block."""
    logger = logging.getLogger("peewee")
    handler, level = QueryCounter(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


#: The one file of the first driver is accepted (a card, a replacement): both drivers' pages show every kind of row.
STATES = [RequestState.ACCEPTEE, RequestState.ENVOYEE, RequestState.EN_INSTRUCTION, RequestState.ATTENTE_COMPLEMENT,
          RequestState.REFUSEE, RequestState.BROUILLON]


def files_for(user, count, centre):
    """Give a driver `count` files over the procedures and states, with history, cards (and their history), a
    replacement, a notification and an invoice each."""
    training = record_for(centre, user)
    for n in range(count):
        state = STATES[n % len(STATES)]
        dossier = transitions.open_dossier(ProcedureCode.CQC, user)
        CqcRequest.create(dossier=dossier, training=training, delivery_address="1 rue", delivery_city="Lille",
                          delivery_postal_code="59000")
        DossierEvent.create(dossier=dossier, event="submit", from_state="brouillon", to_state=state, user=user)
        Dossier.update(state=state).where(Dossier.id == dossier.id).execute()
        # A few unread (the home page lists at most 10 and then counts the others in one more query), the rest read.
        Notification.create(user=user, message=f"Demande n° {dossier.id}", link="http://localhost/mes-demandes/",
                            read_at=None if n < 3 else clock.now())
        invoice = Invoice.create(number=dossier.id, user=user, due_on=dt.date(2024, 2, 1), buyer_name=user.full_name,
                                 buyer_address="1 rue", total_ht=28.24, total_vat=5.65, total_ttc=33.89)
        InvoiceLine.create(invoice=invoice, description="Remplacement", unit_ht=28.24, vat_rate=20, total_ht=28.24)
        if state == RequestState.ACCEPTEE:
            driver = user.driver
            card = Card.create(user=user, dossier=dossier, number=f"{user.id}-{n}", category="Marchandises",
                               state=CardState.ACTIVEE, last_name=user.last_name, first_name=user.first_name,
                               birth_date=driver.birth_date, birth_place="Lille", licence_number=driver.licence_number,
                               issued_on=dt.date(2024, 1, 1), expires_on=dt.date(2028, 12, 31))
            CardEvent.create(card=card, event="activate", from_state=CardState.LIVREE, to_state=CardState.ACTIVEE,
                             user=user)
            loss = transitions.open_dossier(ProcedureCode.CQC_PERTE, user)
            Replacement.create(dossier=loss, card=card, reason="perte")
            Dossier.update(state=RequestState.ENVOYEE).where(Dossier.id == loss.id).execute()
            Payment.create(reference=f"P{loss.id}", dossier=loss, user=user, product="CQC_REMPLACEMENT",
                           description="Remplacement", amount_ht=28.24, vat_rate=20, amount_cents=3389)


#: With 30 files, the lists run over two pages: the second page costs what the only page of one file costs.
DRIVER_PAGES = ["/", "/mes-demandes/?rubrique=en-cours", "/mes-demandes/?rubrique=en-cours&page=2", "/mes-cartes/",
                "/mes-cartes/?page=2", "/mes-factures", "/mes-factures?page=2", "/mes-notifications",
                "/mes-notifications?page=2", "/mes-formations", "/mes-certificats", "/mes-demandes/remplacement/"]
#: The pages the driver with 30 files has and the driver with one has not.
SECOND_PAGES = {"/mes-demandes/?rubrique=en-cours&page=2", "/mes-factures?page=2", "/mes-notifications?page=2"}


@pytest.fixture
def drivers(app, make_driver, monkeypatch):
    from services import documents
    from tests.cqc_files import PDF

    monkeypatch.setattr(documents, "summary_pdf", lambda training: PDF)
    monkeypatch.setattr(documents, "certificate_pdf", lambda certificate: PDF)
    centre = make_centre()
    few, many = make_driver(state="active"), make_driver(state="active")
    files_for(few, 1, centre)
    files_for(many, 30, centre)
    return few, many


def queries_on(client, login, user, path):
    login(user)
    client.get(path)  # warm: the first request of a session loads what every later one reuses
    with counting() as counter:
        assert client.get(path).status_code == 200, path
    client.post("/deconnexion")
    return counter.count


@pytest.mark.parametrize("path", DRIVER_PAGES)
def test_a_driver_page_costs_the_same_with_1_file_or_30(client, login_user, drivers, path):
    few, many = drivers
    # The second page of 30 files costs what the one file's only page costs (a page past the last, a link kept from a
    # longer list, costs a count and a read more: five cards have no second page either).
    only = path.replace("?page=2", "").replace("&page=2", "") if path in SECOND_PAGES else path
    assert queries_on(client, login_user, many, path) == queries_on(client, login_user, few, only)


STAFF_PAGES = ["/admin/", "/admin/account_queue/", "/admin/cqc_requests/", "/admin/replacement_requests/",
               "/admin/cards_admin/", "/admin/contracts/", "/admin/tachograph_requests/", "/admin/outbox/",
               "/admin/audit/"]


def test_a_staff_page_costs_the_same_with_1_file_or_30(app, client, make_driver, make_staff, login_staff, monkeypatch):
    from services import documents
    from tests.cqc_files import PDF

    monkeypatch.setattr(documents, "summary_pdf", lambda training: PDF)
    monkeypatch.setattr(documents, "certificate_pdf", lambda certificate: PDF)
    centre = make_centre()
    holder = make_driver(state="active")
    files_for(holder, 1, centre)
    login_staff(make_staff(role="local_admin", manages_files=True))

    def counts():
        result = {}
        for path in STAFF_PAGES:
            client.get(path)
            with counting() as counter:
                assert client.get(path).status_code == 200, path
            result[path] = counter.count
        return result

    few = counts()
    for n in range(29):
        files_for(make_driver(state="active"), 1, centre)
    assert counts() == few


ORGANISATION_PAGES = ["/", "/mes-demandes/?rubrique=en-cours", "/mes-cartes/", "/mes-notifications", "/supervision/",
                      "/mes-conducteurs/",
                      "/supervision/?format=csv"]


def tachograph_files(manager, count):
    """Give a company `count` driver card requests over the states, each accepted one with its card."""
    from models import CardKind, TachographRequest

    for n in range(count):
        driver = company_driver(manager.organisation, licence=f"20ZZ{manager.id:02d}{n:03d}")
        state = STATES[n % len(STATES)]
        dossier = transitions.open_dossier(ProcedureCode.TACHY_CONDUCTEUR, manager, organisation=manager.organisation_id)
        TachographRequest.create(dossier=dossier, company_driver=driver, reason="premiere")
        DossierEvent.create(dossier=dossier, event="submit", from_state="brouillon", to_state=state, user=manager)
        Dossier.update(state=state).where(Dossier.id == dossier.id).execute()
        if state == RequestState.ACCEPTEE:
            Card.create(kind=CardKind.TACHY_CONDUCTEUR, organisation=manager.organisation, company_driver=driver,
                        dossier=dossier, number=f"F{dossier.id:015d}", state=CardState.LIVREE, last_name="X",
                        licence_number=driver.licence_number, birth_date=driver.birth_date,
                        issued_on=dt.date(2024, 1, 1), expires_on=dt.date(2028, 12, 31))


@pytest.mark.parametrize("path", ORGANISATION_PAGES)
def test_an_organisation_page_costs_the_same_with_1_request_or_30(client, login_user, make_staff, path):
    from tests.tachy_data import SUD

    tachy_tariffs()
    staff = make_staff(procedures=[ProcedureCode.CONTRAT_TACHY])
    few = company_under_contract(staff)[2]
    many = company_under_contract(staff, siret=SUD, name="EXPRESS ROUTE SUD", number="TACHY-2")[2]
    tachograph_files(few, 1)
    tachograph_files(many, 30)
    assert queries_on(client, login_user, many, path) == queries_on(client, login_user, few, path)


def test_counts_shown_to_staff_are_bounded(app, make_driver):
    from models import COUNT_CAP, capped_count
    from services.formatting import count_fr

    for _ in range(5):
        make_driver()
    accounts = Dossier.select().where(Dossier.state == "en_analyse")
    assert capped_count(accounts) == 5 and capped_count(accounts, cap=3) == 4
    assert count_fr(COUNT_CAP + 1) == "plus de 10\u202f000" and count_fr(1234) == "1\u202f234"
