"""A small demo data set, so the embedded default shows every journey (flask demo-data)."""
import datetime as dt
import os
from decimal import Decimal

from models import (
    ProcedureCode,
    Product,
    AccountState,
    Approval,
    CompanyDriver,
    Contract,
    Dossier,
    Driver,
    Habilitation,
    News,
    OrgKind,
    Organisation,
    Procedure,
    Role,
    Staff,
    StaffRole,
    Subscription,
    Tariff,
    User,
    db,
)
from models import clock
from services import accounts, passwords, procedures, sirene, trainings, transitions

SAMPLE_CSV = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "sirene_sample.csv")

#: (who, e-mail, password) printed by the run command.
ACCOUNTS = [
    ("Administrateur local (back-office)", "admin@hubpro-transport.fr", "Demo-Admin-2026!"),
    ("Agent instructeur (back-office)", "agent@hubpro-transport.fr", "Demo-Agent-2026!"),
    ("Conducteur (portail)", "paul.martin@exemple.fr", "Demo-Conducteur-2026!"),
    ("Centre de formation agréé (portail)", "cfa-lille@exemple.fr", "Demo-Centre-2026!"),
    ("Entreprise de transport (portail)", "direction@transports-martin.fr", "Demo-Entreprise-2026!"),
]
ADMIN_EMAIL, AGENT_EMAIL = ACCOUNTS[0][1], ACCOUNTS[1][1]
#: The subscription's « Notifications » address (a functional one, as guide 003 recommends).
NOTIFICATION_EMAIL = "instruction@hubpro-transport.fr"
#: The addresses of demos loaded before these: a special-use domain, which the back office's forms refuse.
FORMER_ADDRESSES = {
    "admin@hubpro.local": ADMIN_EMAIL,
    "agent@hubpro.local": AGENT_EMAIL,
    "instruction@hubpro.local": NOTIFICATION_EMAIL,
}


def _driver(email, last, first, born, licence, state, submitted_hours_ago, password=None):
    user = User.create(email=email, role=Role.DRIVER, last_name=last, first_name=first,
                       password_hash=passwords.hash_password(password) if password else None)
    Driver.create(user=user, birth_date=born, birth_place="Lille", licence_number=licence, mobile="+33612345678",
                  address="12 rue des Lilas", postal_code="59000", city="Lille")
    from flask import current_app

    accounts.record_consents(user, current_app.config["DRIVER_CONSENTS"])
    dossier = transitions.open_dossier(ProcedureCode.COMPTE_PARTICULIER, user, comment="Demande de création de compte")
    submitted = clock.now() - dt.timedelta(hours=submitted_hours_ago)
    Dossier.update(state=state, submitted_at=submitted, created_at=submitted).where(Dossier.id == dossier.id).execute()
    return user


def _contract(admin, code, hours_ago, **billing):
    """Subscribe an organisation's contract as its administrator would, sent some hours ago."""
    dossier = transitions.open_dossier(code, admin, organisation=admin.organisation_id, comment="Souscription du contrat")
    Contract.create(dossier=dossier, step="recapitulatif", conditions_accepted=True, **billing)
    transitions.transition(dossier, "submit", user=admin, comment="Contrat souscrit par l'administrateur")
    sent = clock.now() - dt.timedelta(hours=hours_ago)
    Dossier.update(submitted_at=sent, created_at=sent).where(Dossier.id == dossier.id).execute()
    return Dossier.get_by_id(dossier.id)


def _contracts(centre, centre_admin, agent):
    """FORMATRANS under a numbered CQC contract; two companies: one to subscribe, one waiting for its number (late)."""
    numbered = _contract(centre_admin, ProcedureCode.CONTRAT_CQC, 24 * 60, legal_last_name="Leroy", legal_first_name="Marie",
                         legal_function="Directrice", billing_name="FORMATRANS", billing_address="12 rue des Frères Beaumont",
                         billing_postal_code="59000", billing_city="Lille", contact_name="Service comptable",
                         contact_email="compta@exemple.fr", contact_phone="0320000000")
    transitions.transition(numbered, "take", staff=agent, comment="Prise en instruction")
    Contract.update(number="CQC-2023-0007", numbered_at=clock.now() - dt.timedelta(days=59)).where(
        Contract.dossier == numbered.id).execute()
    transitions.transition(Dossier.get_by_id(numbered.id), "accept", staff=agent, comment="Numéro de contrat donné")
    martin = Organisation.create(kind=OrgKind.COMPANY, siret="82345678500026", name="TRANSPORTS MARTIN ET FILS")
    martin_admin = User.create(email="direction@transports-martin.fr", role=Role.ORG_ADMIN, organisation=martin,
                               last_name="Martin", first_name="Jean", function="Gérant", phone="0327000000",
                               password_hash=passwords.hash_password("Demo-Entreprise-2026!"))
    for last, first, born, licence in (("Vannest", "Philippe", dt.date(1985, 3, 14), "13AA00002"),
                                       ("Leroy", "Marie", dt.date(1990, 5, 2), "14AB12345")):
        CompanyDriver.create(organisation=martin, last_name=last, first_name=first, birth_date=born, birth_place="Lille",
                             licence_number=licence, address="3 rue du Port", postal_code="59000", city="Lille",
                             added_by=martin_admin)
    sud = Organisation.create(kind=OrgKind.COMPANY, siret="52525252400059", name="EXPRESS ROUTE SUD")
    sud_admin = User.create(email="direction@express-route-sud.fr", role=Role.ORG_ADMIN, organisation=sud,
                            last_name="Garcia", first_name="Inès", function="Directrice", phone="0491000000")
    _contract(sud_admin, ProcedureCode.CONTRAT_TACHY, 30, legal_last_name="Garcia", legal_first_name="Inès",
              legal_function="Présidente", billing_name="EXPRESS ROUTE SUD", billing_address="40 chemin des Camions",
              billing_postal_code="13015", billing_city="Marseille", contact_name="Inès Garcia",
              contact_email="compta@express-route-sud.fr", contact_phone="0491000000")


def _replace_former_addresses():
    """Give a demo loaded with the former addresses the current ones; return how many rows changed."""
    changed = 0
    with db.atomic():
        for former, current in FORMER_ADDRESSES.items():
            changed += Staff.update(email=current).where(Staff.email == former).execute()
            changed += Subscription.update(notification_email=current).where(
                Subscription.notification_email == former).execute()
    return changed


def load():
    """Load the demo data unless it is there already; yield what was done."""
    if _replace_former_addresses():
        yield f"Adresses de démonstration remplacées : {ADMIN_EMAIL}, {AGENT_EMAIL}, {NOTIFICATION_EMAIL}."
    if Staff.select().where(Staff.email == ADMIN_EMAIL).exists():
        yield "Données de démonstration déjà présentes."
        return
    with open(SAMPLE_CSV, encoding="utf-8") as handle:
        yield f"Registre Sirene : {sirene.load_csv(handle)} établissements (data/sirene_sample.csv)."
    with db.atomic():
        admin = Staff.create(email=ADMIN_EMAIL, role=StaffRole.LOCAL_ADMIN, first_name="Claire",
                             last_name="Dubois", manages_files=True, password_hash=passwords.hash_password("Demo-Admin-2026!"))
        agent = Staff.create(email=AGENT_EMAIL, role=StaffRole.AGENT, first_name="Karim", last_name="Benali",
                             created_by=admin, password_hash=passwords.hash_password("Demo-Agent-2026!"))
        for code in (ProcedureCode.COMPTE_PARTICULIER, *procedures.REGISTRY):
            Habilitation.create(staff=agent, procedure=Procedure.by_code(code))
        Subscription.create(procedure=Procedure.by_code(ProcedureCode.COMPTE_PARTICULIER), access_modality="portail",
                            start_date=dt.date(2023, 1, 1), notification_email=NOTIFICATION_EMAIL)
        for product, amount, start in ((Product.CQC, "25.00", dt.date(2022, 1, 1)), (Product.CQC, "28.24", dt.date(2023, 9, 1)),
                                       (Product.CQC_REMPLACEMENT, "28.24", dt.date(2023, 9, 1)), (Product.REEXPEDITION, "6.50", dt.date(2023, 9, 1)),
                                       (Product.TACHY_CONDUCTEUR, "59.00", dt.date(2023, 1, 1)), (Product.TACHY_ENTREPRISE, "59.00", dt.date(2023, 1, 1))):
            Tariff.create(product=product, amount_ht=Decimal(amount), vat_rate=Decimal("20.00"), start_date=start)
        News.create(text="À compter du 1er Septembre 2023, le prix unitaire de la CQC est revalorisé à 28,24€ HT (hors frais d'envoi).",
                    published_on=dt.date(2023, 8, 1))
        _driver("paul.martin@exemple.fr", "Martin", "Paul", dt.date(1991, 8, 19), "942981379228",
                AccountState.ACTIVE, 24 * 30, password="Demo-Conducteur-2026!")
        _driver("anne.martin@exemple.fr", "Martin", "Anne", dt.date(1991, 8, 19), "13AA00002", AccountState.EN_ANALYSE, 30)
        _driver("lucas.petit@exemple.fr", "Petit", "Lucas", dt.date(1998, 3, 2), "18AB12345", AccountState.EN_ANALYSE, 2)
        centre = Organisation.create(kind=OrgKind.CENTRE, siret="47728084603753", name="FORMATRANS")
        centre_admin = User.create(email="cfa-lille@exemple.fr", role=Role.ORG_ADMIN, organisation=centre, last_name="Leroy",
                                   first_name="Marie", function="Directrice",
                                   password_hash=passwords.hash_password("Demo-Centre-2026!"))
        for siret, number, category in (("47728084603753", "59-2021-001", "Marchandises"),
                                        ("44455566800045", "76-2022-014", "Marchandises")):
            Approval.create(siret=siret, number=number, category=category, email="contact@exemple.fr",
                            granted_on=dt.date(2021, 12, 28), notified_at=clock.now())
        _contracts(centre, centre_admin, agent)
    yield "Comptes IN Groupe, conducteurs, centre de formation, entreprises de transport, agréments et nouveautés créés."
    end = clock.today() - dt.timedelta(days=2)
    training = trainings.record(
        centre, centre_admin, kind="FIMO", category="Marchandises", start_date=end - dt.timedelta(days=35),
        end_date=end, last_name="Martin", first_name="Paul", birth_date=dt.date(1991, 8, 19), licence_number="942981379228",
    )
    if training.summary_path:
        yield "Formation FIMO Marchandises déclarée par FORMATRANS pour Paul Martin (récapitulatif et certificat émis)."
    else:  # wkhtmltopdf missing: the rest of the demo stands
        yield ("Formation FIMO Marchandises déclarée par FORMATRANS pour Paul Martin ; son récapitulatif et son certificat "
               "seront produits par la tâche « certificates » (wkhtmltopdf indisponible).")
    yield ("Pour voir le parcours « Agrément CFA » : dans le back-office, Référentiels > Agréments > Créer, "
           "SIRET 400 734 448 00477 (établissement actif du registre de démonstration).")
