"""Every URL rule × every role (issue 11), generated from ``app.url_map``.

Each rule is opened with each of its methods (GET, POST) by ten roles, its parameters filled with the
identifiers of ANOTHER account's objects (a driver's files, card, invoice and documents, a company's members,
drivers, files and cards, a centre's members). It asserts: no server error anywhere; anonymous visitors are
sent to a login or refused on every rule outside an explicit list of public rules (a new unguarded route
fails here); no role reads or changes another account's object; the back office refuses public accounts;
reference data refuses agents without the habilitation « Données de référence ».
"""
import datetime as dt
from urllib.parse import urlencode

import pytest

from models import (
    Approval, AuditLog, Card, CompanyDriver, Dossier, Document, Invoice, News, Notification, OutboxMessage,
    Payment, PaymentNotification, Procedure, ProcedureCode, Role, SavedFilter, SireneEstablishment, Staff, StaffRole,
    Subscription, Tariff, Training, User,
)
from models import SchedulerHeartbeat, clock
from services import dossiers, documents, invoices, outbox
from tests import cqc_files, tachy_data
from tests.money_data import make_tariff, notification, pending_payment

#: The roles, in the order they sweep the rules: public accounts, then staff.
ROLES = ("anonymous", "driver", "company_admin", "company_manager", "centre_admin", "centre_manager",
         "agent", "agent_cqc", "agent_reference_data", "local_admin")
PUBLIC_ROLES = ROLES[1:6]
STAFF_ROLES = ROLES[6:]

#: The rules anyone may open without an account, each with why. Any other rule must send an anonymous visitor
#: to a login or refuse it: a new route missing from here and left unguarded fails the matrix.
PUBLIC = {
    "static": "the portal's style sheets and scripts",
    "admin.static": "the back office's style sheets and scripts",
    "home.index": "the home page and its « Nouveautés »",
    "auth.login": "the public login",
    "auth.forgot": "« Mot de passe oublié »",
    "accounts.choose": "« Créer un compte »",
    "accounts.driver": "a driver's account form",
    "accounts.organisation": "a centre's or a company's account form",
    "accounts.check_siret": "the SIRET check of the account forms",
    "accounts.correct": "a driver's correction link (its token is the credential)",
    "auth.unlock": "the unlock link e-mailed after failed logins (its token is the credential)",
    "password.welcome": "a password link (its token is the credential)",
    "password.choose": "a password link's form (its token is the credential)",
    "admin.login": "the staff login",
    "payments.notification": "the payment provider's signed server-to-server notification",
    "sandbox.pay": "the sandbox payment page (the provider's hosted page in development)",
    "sandbox.refund": "the sandbox's signed server-to-server refund service (the provider's in development)",
    "health.ready": "the load balancer's readiness check (/sante): JSON naming no one",
    "legal.cgu": "the terms of use (CGU) the account forms link to",
    "legal.cgv": "the terms of sale (CGV) the account forms link to",
    "legal.rgpd": "the privacy policy the account forms link to",
    "legal.notice": "« Mentions légales »",
    "legal.accessibility": "the accessibility statement (RGAA)",
    "legal.faq": "« Foire aux questions »",
    "legal.about": "« Qui sommes-nous ? »",
}

#: The back-office views of reference data (« Données de référence ») and those of local administrators only.
REFERENCE_DATA = {"approvals", "sirene", "news", "tariffs", "procedures", "subscriptions"}
LOCAL_ADMIN_ONLY = {"staff", "outbox", "audit", "payments_admin", "invoices_admin", "payment_notifications", "job_runs"}

#: Rules that end the session: each role opens them last.
LOGOUTS = ("auth.logout", "admin.logout")

#: Who may read the objects of which owner (the local administrator reads every file, « Gestion des télédossiers »
#: or not; an agent habilitated for CQC reads the CQC files, and the identity of their holders).
READS = {
    "agent_cqc": {"cqc"},
    "agent_reference_data": {"reference"},
    "local_admin": {"driver", "cqc", "replacement", "company", "centre", "reference", "staff"},
}
#: Who may change the objects of which owner (a local administrator processes files only with « Gestion des
#: télédossiers », which the one here does not hold; it issues credit notes, « Finances » being its own).
CHANGES = {"agent_cqc": {"cqc"}, "local_admin": {"invoices"}}

#: The back office's pages that open the one row their ?id= names (a list ignores it).
ONE_ROW = ("details_view", "edit_view", "delete_view", "ajax_update")


# --- The other accounts and their objects ---------------------------------------------------------------


def fast_pdfs(monkeypatch):
    """Give every PDF fixed bytes: this module checks who reads a PDF, test_documents what it prints."""
    monkeypatch.setattr(documents, "render_pdf", lambda template, **context: cqc_files.PDF)
    monkeypatch.setattr(documents, "summary_pdf", lambda training: cqc_files.PDF)
    monkeypatch.setattr(documents, "certificate_pdf", lambda certificate: cqc_files.PDF)


@pytest.fixture
def world(app, make_driver, make_staff, monkeypatch, sirene_rows):
    """One account per role, and the other accounts whose objects the rules are opened on."""
    fast_pdfs(monkeypatch)
    make_tariff()
    make_tariff(product="CQC")
    tachy_data.tachy_tariffs()
    processing = make_staff(role=StaffRole.LOCAL_ADMIN, manages_files=True, email="traitement@ingroupe.fr")

    # The roles' own accounts.
    company, company_admin, company_manager = tachy_data.company_under_contract(processing)
    centre = cqc_files.make_centre(siret="40073444800477", name="CFA TRANSPORT VOYAGEURS")
    accounts = {
        "driver": make_driver(state="active"),
        "company_admin": company_admin,
        "company_manager": company_manager,
        "centre_admin": cqc_files.make_member(centre, Role.ORG_ADMIN),
        "centre_manager": cqc_files.make_member(centre, Role.ORG_MANAGER),
        "agent": make_staff(),
        "agent_cqc": make_staff(procedures=[ProcedureCode.CQC]),
        "agent_reference_data": make_staff(),
        "local_admin": make_staff(role=StaffRole.LOCAL_ADMIN),
    }
    Staff.update(manages_reference_data=True).where(Staff.id == accounts["agent_reference_data"].id).execute()
    # A scheduler alive for the whole sweep, so /sante answers 200 (test_health.py checks its 503).
    app.config["JOBS_HEARTBEAT_MAX_AGE"] = 10**7
    SchedulerHeartbeat.beat("matrice:1", clock.now())

    # Another driver: trained at another centre, a CQC accepted (its card ordered), a replacement paid (invoiced).
    their_centre = cqc_files.make_centre(name="FORMATRANS")
    centre_admin = cqc_files.make_member(their_centre, Role.ORG_ADMIN, email="direction.formatrans@victime.fr")
    centre_manager = cqc_files.make_member(their_centre, Role.ORG_MANAGER, email="gestion.formatrans@victime.fr")
    driver = make_driver(state="active", last_name="Zorglub", first_name="Ursule", email="ursule.zorglub@victime.fr",
                         licence_number="77ZZ12345")
    cqc_files.record_for(their_centre, driver)
    cqc = cqc_files.sent_request(driver)
    dossiers.take(cqc, processing)
    dossiers.accept(Dossier.get_by_id(cqc.id), processing)
    cqc_card = Card.get(Card.dossier == cqc.id)
    payment = pending_payment(driver)
    dossiers.settle_payment(notification(payment))
    replacement = Dossier.get_by_id(payment.dossier_id)
    driver_invoice = Invoice.get(Invoice.payment == payment.id)
    outbox.notify(driver, "Votre carte est en fabrication.", link="/mes-cartes/", template="notification",
                  subject="Carte en fabrication")

    # Another company: its TACHY contract, a driver, a driver card issued and invoiced.
    their_company, their_admin, their_manager = tachy_data.company_under_contract(
        processing, siret=tachy_data.SUD, name="EXPRESS ROUTE SUD", number="TACHY-2026-00099")
    company_driver = tachy_data.company_driver(their_company, licence="66YY54321", last_name="Vicdriver")
    tachy = tachy_data.sent_driver_card(their_manager, company_driver)
    tachy_card, = tachy_data.accepted(tachy, processing)
    invoices.monthly_contract_invoices(tachy_card.issued_on.replace(day=1))
    company_invoice = Invoice.get(Invoice.organisation == their_company)
    contract = Dossier.get(Dossier.organisation == their_company,
                           Dossier.procedure == Procedure.by_code(ProcedureCode.CONTRAT_TACHY))

    # Another staff member, and reference data.
    their_staff = Staff.create(email="agent.attente@ingroupe.fr", role=StaffRole.AGENT, first_name="Yves",
                               last_name="Attente")
    their_filter = SavedFilter.create(staff=their_staff, endpoint="cqc_requests", name="Filtre d'Yves", query="")
    News.create(text="Nouveau tarif", published_on=clock.today())
    Subscription.create(procedure=Procedure.by_code(ProcedureCode.CQC), access_modality="portail",
                        start_date=dt.date(2023, 1, 1), notification_email="instruction@ingroupe.fr")

    return {
        "accounts": accounts,
        # What identifies each owner's objects in a page.
        "markers": {
            "driver": ["Zorglub", "ursule.zorglub@victime.fr", "77ZZ12345"],
            "cqc": [cqc_card.number],
            "replacement": [driver_invoice.display_number, payment.reference],
            "company": [their_admin.email, their_manager.email, "Vicdriver", "66YY54321", tachy_card.number,
                        company_invoice.display_number, "TACHY-2026-00099"],
            "centre": [centre_admin.email, centre_manager.email],
        },
        "driver": driver, "cqc": cqc, "cqc_card": cqc_card, "replacement": replacement, "payment": payment,
        "driver_invoice": driver_invoice, "their_company": their_company, "their_centre": their_centre,
        "company_driver": company_driver, "tachy": tachy, "tachy_card": tachy_card,
        "company_invoice": company_invoice, "contract": contract, "their_admin": their_admin,
        "their_manager": their_manager, "their_staff": their_staff, "their_filter": their_filter,
        "notifications": [n.id for n in Notification.select().where(Notification.user == driver.id)],
    }


def document_of(dossier):
    """Return a file's first document."""
    return Document.select().where(Document.dossier == dossier.id).order_by(Document.id).first()


def targets(world):
    """Return, per blueprint or back-office view, the objects its parameters name: {name: (value, owner)}."""
    w = world
    training = Training.get(Training.user == w["driver"].id)
    certificate = training.certificates.first()
    account = Dossier.account_of(w["driver"])
    common = {
        "card_id": (w["cqc_card"].id, "cqc"),
        "invoice_id": (w["driver_invoice"].id, "replacement"),
        "member_id": (w["their_manager"].id, "company"),
        "driver_id": (w["company_driver"].id, "company"),
        "notification_id": (Notification.get(Notification.user == w["driver"].id).id, "driver"),
        "training_id": (training.id, "driver"),
        "certificate_id": (certificate.id, "driver"),
        "reference": (w["payment"].reference, "replacement"),
        "payment_id": (w["payment"].id, "replacement"),
        "message_id": (OutboxMessage.get(OutboxMessage.recipient == w["driver"].email).id, "driver"),
        "token": ("lien-inconnu-0123456789", None),
        "export_type": ("csv", None),
        "fmt": ("csv", None),
        # A filter saved by another staff member: private to its author, whoever asks (« saved_filter » is read by none).
        "filter_id": (w["their_filter"].id, "saved_filter"),
        "event": ("ship", None),
        "filename": ("css/site.css", None),
    }

    def files(dossier, owner, step, documents_of=None, documents_owner=None):
        # A file without documents (a replacement after a loss, a contract) is opened with another file's document.
        document = document_of(documents_of or dossier)
        return {"dossier_id": (dossier.id, owner), "document_id": (document.id, documents_owner or owner),
                "step": (step, None)}

    by_prefix = {
        "admin": {"filename": ("admin/css/bootstrap4/admin.css", None)},
        "requests": files(w["cqc"], "cqc", "adresse"),
        "cqc_requests": files(w["cqc"], "cqc", "adresse"),
        "replacements": files(w["replacement"], "replacement", "adresses", w["cqc"], "cqc"),
        "replacement_requests": files(w["replacement"], "replacement", "adresses", w["cqc"], "cqc"),
        "tachographs": files(w["tachy"], "company", "adresse"),
        "tachograph_requests": files(w["tachy"], "company", "adresse"),
        "contract": files(w["contract"], "company", "facturation", w["tachy"]),
        "contracts": files(w["contract"], "company", "facturation", w["tachy"]),
        "account_queue": {"dossier_id": (account.id, "driver")},
        "all_accounts": {"dossier_id": (account.id, "driver")},
        "managers": {"member_id": (w["their_manager"].id, "company")},
        "staff": {"member_id": (w["their_staff"].id, "staff")},
        "invoices_admin": {"invoice_id": (w["company_invoice"].id, "company")},
    }
    # The back office's lists open one row with ?id=: the other accounts' row of each.
    rows = {
        "account_queue": (account.id, "driver"), "all_accounts": (account.id, "driver"),
        "cqc_requests": (w["cqc"].id, "cqc"), "replacement_requests": (w["replacement"].id, "replacement"),
        "tachograph_requests": (w["tachy"].id, "company"), "contracts": (w["contract"].id, "company"),
        "cards_admin": (w["cqc_card"].id, "cqc"), "staff": (w["their_staff"].id, "staff"),
        "payments_admin": (w["payment"].id, "replacement"), "invoices_admin": (w["company_invoice"].id, "company"),
        "payment_notifications": (PaymentNotification.select().first().id, "replacement"),
        "outbox": (common["message_id"][0], "driver"),
        "audit": (AuditLog.select().order_by(AuditLog.id.desc()).first().id, "staff"),
        "approvals": (Approval.get(Approval.siret == cqc_files.FORMATRANS).id, "reference"),
        "sirene": (SireneEstablishment.select().first().id, "reference"),
        "news": (News.select().first().id, "reference"), "tariffs": (Tariff.select().first().id, "reference"),
        "procedures": (Procedure.by_code(ProcedureCode.CQC).id, "reference"),
        "subscriptions": (Subscription.select().first().id, "reference"),
    }
    return common, by_prefix, rows


def requests_for(app, world):
    """Return every (rule, method, path, owners) the matrix opens, the logouts last."""
    common, by_prefix, rows = targets(world)
    opened = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint in LOGOUTS, r.rule)):
        prefix = rule.endpoint.split(".")[0]
        values = {**common, **by_prefix.get(prefix, {})}
        names = rule.arguments - set(rule.defaults or ())
        assert names <= values.keys(), f"{rule.rule}: give the matrix a value for {names - values.keys()}"
        arguments = {name: values[name][0] for name in names}
        owners = {values[name][1] for name in names} - {None}
        path = rule.build(arguments, append_unknown=False)[1]
        if prefix in rows and rule.rule.startswith("/admin/"):
            path += "?" + urlencode({"id": rows[prefix][0]})
            if rule.endpoint.endswith(ONE_ROW):
                owners.add(rows[prefix][1])
        for method in ("GET", "POST"):
            if method in rule.methods:
                opened.append((rule, method, path, owners))
    return opened


def post_form(world):
    """Return the form every POST carries: the other accounts' objects where a form names one, a decision, a bulk
    move of cards."""
    return {"decision": "take", "action": "ship", "rowid": [world["cqc_card"].id, world["tachy_card"].id],
            "company_driver": world["company_driver"].id, "card": world["cqc_card"].id, "reason": "premiere",
            "url": "/admin/"}


def snapshot(world):
    """Return what the other accounts own, by owner: anything a role changes there shows here."""
    w = world

    def dossier(d):
        row = Dossier.get_by_id(d.id)
        return (row.state, Document.select().where(Document.dossier == d.id).count())

    def members(organisation):
        return sorted((u.id, u.email, u.role, u.password_hash, u.deleted_at, u.last_name)
                      for u in User.select().where(User.organisation == organisation))

    driver = User.get_by_id(w["driver"].id)
    return {
        # Processing a file tells its holder (a new notification): what the holder had stays as it was.
        "driver": (driver.email, driver.password_hash, driver.last_name, driver.deleted_at,
                   Dossier.account_of(driver).state,
                   [Notification.get_by_id(n).read_at for n in w["notifications"]],
                   Training.select().where(Training.user == driver.id).count()),
        "cqc": (dossier(w["cqc"]), Card.get_by_id(w["cqc_card"].id).state),
        "replacement": (dossier(w["replacement"]), Payment.get_by_id(w["payment"].id).status),
        "invoices": (Invoice.select().where(Invoice.user == driver.id).count(),
                     Invoice.select().where(Invoice.organisation == w["their_company"]).count()),
        "company": (members(w["their_company"]), dossier(w["tachy"]), dossier(w["contract"]),
                    Card.get_by_id(w["tachy_card"].id).state,
                    sorted((d.id, d.last_name, d.licence_number) for d in
                           CompanyDriver.select().where(CompanyDriver.organisation == w["their_company"])),
                    Dossier.select().where(Dossier.organisation == w["their_company"]).count()),
        "centre": (members(w["their_centre"]), Training.select().where(Training.centre == w["their_centre"]).count()),
        "saved_filter": [(f.name, f.query) for f in SavedFilter.select().where(SavedFilter.id == w["their_filter"].id)],
    }


# --- What each answer must be ---------------------------------------------------------------------------------


def sent_to_login(response):
    return response.status_code in (301, 302, 303) and "/connexion" in response.headers.get("Location", "")


def refused(response):
    return sent_to_login(response) or response.status_code in (401, 403, 404)


def view_flags(app):
    """Return the back-office views' endpoints flagged reference data, and those flagged for local administrators."""
    views = app.extensions["admin"][0]._views
    return ({v.endpoint for v in views if getattr(v, "reference_data", False)},
            {v.endpoint for v in views if getattr(v, "local_admin_only", False)})


def login(client, role, account, login_user, login_staff):
    """Log this role's account in through the real login pages (nothing for the anonymous visitor)."""
    if account is not None:
        answer = login_staff(account) if account.is_staff else login_user(account)
        assert answer.status_code == 302, (role, answer.status_code)


def check(role, rule, response, owners, markers):
    """Return what is wrong with this answer to this role (nothing when it is right)."""
    status = response.status_code
    endpoint = rule.endpoint
    view = endpoint.split(".")[0]
    guarded = endpoint not in PUBLIC and endpoint not in LOGOUTS
    back_office = rule.rule.startswith("/admin/")
    wrong = []
    if status >= 500:
        wrong.append(f"server error {status}")
    if role == "anonymous" and endpoint not in PUBLIC and not refused(response):
        wrong.append(f"unguarded: {status} without an account")
    if role in PUBLIC_ROLES and back_office and guarded and not refused(response):
        wrong.append(f"back office open to a public account: {status}")
    if role in STAFF_ROLES and not back_office and guarded and not refused(response):
        wrong.append(f"portal page open to staff: {status}")
    if role in ("agent", "agent_cqc") and view in REFERENCE_DATA and status != 403:
        wrong.append(f"reference data without the habilitation: {status}")
    if role in ("agent_reference_data", "local_admin") and view in REFERENCE_DATA and status == 403:
        wrong.append("reference data refused despite the habilitation")
    if role in ("agent", "agent_cqc", "agent_reference_data") and view in LOCAL_ADMIN_ONLY and status != 403:
        wrong.append(f"local administrators' area open to an agent: {status}")
    if status == 200:
        readable = READS.get(role, set())
        if owners - readable:
            wrong.append(f"reads another account's object ({', '.join(sorted(owners - readable))})")
        text = response.mimetype.startswith("text/") or response.mimetype == "application/json"
        body = response.get_data(as_text=True).lower() if text else ""
        # Who reads a CQC file reads its holder's identity.
        hidden = [owner for owner in markers if owner not in readable and not (owner == "driver" and "cqc" in readable)]
        seen = [marker for owner in hidden for marker in markers[owner] if marker.lower() in body]
        if seen:
            wrong.append("shows another account's data: " + ", ".join(seen))
    return wrong


# --- The matrix ---------------------------------------------------------------------------------------------


def test_every_rule_for_every_role(app, client, world, login_user, login_staff, capsys, record_property):
    opened = requests_for(app, world)
    markers = world["markers"]
    form = post_form(world)
    rules = {rule.rule + " " + rule.endpoint for rule, *_ in opened}
    failures, statuses, anonymous_reached = [], {}, set()
    for role in ROLES:
        login(client, role, world["accounts"].get(role), login_user, login_staff)
        before = snapshot(world)
        for rule, method, path, owners in opened:
            try:
                response = client.open(path, method=method, data=form if method == "POST" else None)
            except Exception as error:  # the test app lets a view's exception through: a 500 in production
                failures.append(f"{role:22} {method:4} {path}: server error ({type(error).__name__}: {error})")
                statuses[500] = statuses.get(500, 0) + 1
                continue
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if role == "anonymous" and not refused(response):
                anonymous_reached.add(rule.endpoint)
            for wrong in check(role, rule, response, owners, markers):
                failures.append(f"{role:22} {method:4} {path}: {wrong}")
        after = snapshot(world)
        changed = [owner for owner in before if before[owner] != after[owner] and owner not in CHANGES.get(role, ())]
        failures += [f"{role:22} changed another account's objects ({owner}): {before[owner]} -> {after[owner]}"
                     for owner in changed]
        client.post("/deconnexion")
        client.post("/admin/deconnexion")

    report = (f"Route matrix: {len(rules)} rules × {len(ROLES)} roles = {len(rules) * len(ROLES)} checked; "
              f"{len(opened)} rule × method pairs, {len(opened) * len(ROLES)} requests; "
              f"statuses {dict(sorted(statuses.items()))}; {len(failures)} failure(s)")
    with capsys.disabled():
        print("\n" + report)
    record_property("route_matrix", {"rules": len(rules), "roles": len(ROLES), "requests": len(opened) * len(ROLES),
                                     "statuses": statuses, "failures": len(failures)})
    assert failures == [], "\n".join(failures)
    # The public list holds only rules an anonymous visitor does reach: a rule that became guarded leaves it.
    assert set(PUBLIC) - anonymous_reached == set()
    assert len(rules) > 250 and len(opened) * len(ROLES) > 3000


def test_each_back_office_view_declares_who_may_use_it(app):
    """The views' own flags say what the matrix expects (a view moved in or out of reference data shows here)."""
    assert view_flags(app) == (REFERENCE_DATA, LOCAL_ADMIN_ONLY)


def test_the_public_rules_exist(app):
    """A public rule renamed or removed leaves the list (which would otherwise hide a new one under its name)."""
    assert set(PUBLIC) <= {rule.endpoint for rule in app.url_map.iter_rules()}
