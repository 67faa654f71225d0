"""Data the tachograph tests build through the services: a company under a numbered TACHY contract, its drivers,
requests sent, cards issued."""
import datetime as dt
from decimal import Decimal

from models import (
    Card, CardKind, CardState, CompanyDriver, Contract, Dossier, OrgKind, Organisation, ProcedureCode, Role, Tariff,
    TachographRequest, clock,
)
from services import dossiers, organisations, uploads
from tests.cqc_files import PDF, PNG, make_member, upload

MARTIN = "82345678500026"
SUD = "52525252400059"


def tachy_tariffs():
    for product in ("TACHY_CONDUCTEUR", "TACHY_ENTREPRISE"):
        Tariff.create(product=product, amount_ht=Decimal("59.00"), vat_rate=Decimal("20"), start_date=dt.date(2023, 1, 1))


def company_under_contract(staff, siret=MARTIN, name="TRANSPORTS MARTIN ET FILS", number="TACHY-2026-00042"):
    """Create a company, its administrator and its manager, and its TACHY contract numbered by staff."""
    company = Organisation.create(kind=OrgKind.COMPANY, siret=siret, name=name)
    admin = make_member(company, Role.ORG_ADMIN, email=f"direction-{siret}@exemple.fr")
    manager = make_member(company, Role.ORG_MANAGER, email=f"gestion-{siret}@exemple.fr")
    dossier = dossiers.start(ProcedureCode.CONTRAT_TACHY, admin)
    Contract.update(legal_last_name="Martin", legal_first_name="Jean", legal_function="Gérant",
                    billing_name=name, billing_address="5 ZA des Peupliers", billing_postal_code="59128",
                    billing_city="Flers-en-Escrebieux", contact_name="Service comptable",
                    contact_email=f"compta-{siret}@exemple.fr", contact_phone="0327000000",
                    conditions_accepted=True).where(Contract.dossier == dossier).execute()
    dossiers.validate(Dossier.get_by_id(dossier.id), admin)
    dossiers.take(Dossier.get_by_id(dossier.id), staff)
    organisations.give_number(Dossier.get_by_id(dossier.id), staff, number)
    return company, admin, manager


def company_driver(company, licence="13AA00002", last_name="Vannest", first_name="Philippe",
                   birth_date=dt.date(1985, 3, 14)):
    return CompanyDriver.create(organisation=company, last_name=last_name, first_name=first_name,
                                birth_date=birth_date, birth_place="Lille", licence_number=licence,
                                address="3 rue du Port", postal_code="59000", city="Lille")


DRIVER_DOCUMENTS = (("photo", PNG, "photo.png"), ("signature", PNG, "signature.png"),
                    ("permis_recto", PDF, "permis-recto.pdf"), ("permis_verso", PDF, "permis-verso.pdf"),
                    ("identite", PDF, "cni.pdf"), ("residence", PDF, "residence.pdf"))


def sent_driver_card(manager, driver, reason="premiere"):
    """Start, fill in and send a driver card request through the services; return its file."""
    dossier = dossiers.start(ProcedureCode.TACHY_CONDUCTEUR, manager, company_driver=driver, reason=reason)
    TachographRequest.update(identity_confirmed=True).where(TachographRequest.dossier == dossier).execute()
    for kind, data, name in DRIVER_DOCUMENTS:
        uploads.save_document(dossier, kind, upload(data, name))
    dossiers.validate(Dossier.get_by_id(dossier.id), manager)
    return Dossier.get_by_id(dossier.id)


def sent_company_cards(manager, count=2):
    dossier = dossiers.start(ProcedureCode.TACHY_ENTREPRISE, manager)
    TachographRequest.update(card_count=count).where(TachographRequest.dossier == dossier).execute()
    uploads.save_document(dossier, "kbis", upload(PDF, "kbis.pdf"))
    uploads.save_document(dossier, "identite_representant", upload(PDF, "cni-gerant.pdf"))
    dossiers.validate(Dossier.get_by_id(dossier.id), manager)
    return Dossier.get_by_id(dossier.id)


def accepted(dossier, staff):
    """Take and accept a file; return its cards."""
    dossiers.take(dossier, staff)
    dossiers.accept(Dossier.get_by_id(dossier.id), staff)
    return list(Card.select().where(Card.dossier == dossier.id).order_by(Card.id))


def held_card(company, driver, expires_on, state=CardState.ACTIVEE, number="F000000000009900"):
    """A driver card the driver already holds (issued before), ordered by a company."""
    return Card.create(kind=CardKind.TACHY_CONDUCTEUR, organisation=company, company_driver=driver, number=number,
                       state=state, last_name=driver.last_name.upper(), first_name=driver.first_name.upper(),
                       birth_date=driver.birth_date, birth_place=driver.birth_place,
                       licence_number=driver.licence_number, issued_on=clock.today() - dt.timedelta(days=1000),
                       expires_on=expires_on)
