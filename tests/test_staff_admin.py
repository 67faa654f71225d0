"""Guide 003: the local administrator, agents with a 48 h activation link, habilitations, back-office access."""
import io
import re

import pytest

from models import (
    Approval, AuditLog, News, OutboxMessage, Procedure, SireneEstablishment, Staff, StaffRole, Subscription, Tariff,
)
from services import demo, notices
from services import staff as staff_service
from tests.conftest import TEST_PASSWORD, last_email, outbox_links, path_of


@pytest.fixture
def local_admin(make_staff, login_staff):
    admin = make_staff(role=StaffRole.LOCAL_ADMIN)
    login_staff(admin)
    return admin


def _procedure_ids(*codes):
    return [str(Procedure.by_code(code).id) for code in codes]


def test_create_staff_command_creates_the_first_local_admin(runner):
    result = runner.invoke(args=["create-staff", "Chef@IngRoupe.fr", "--role", "local-admin", "--first-name", "Claire"])
    assert result.exit_code == 0, result.output
    member = Staff.get(Staff.email == "chef@ingroupe.fr")
    assert member.role == StaffRole.LOCAL_ADMIN and member.password_hash is None
    assert "Activer mon compte" in last_email("chef@ingroupe.fr").body_text


def test_a_local_admin_creates_an_agent_who_activates_within_48_hours(app, client, local_admin, clock):
    response = client.post("/admin/staff/new/", data={
        "email": "nouvel.agent@ingroupe.fr", "first_name": "Karim", "last_name": "Benali", "role": "agent",
        "procedures": _procedure_ids("COMPTE_PARTICULIER", "CQC"), "active": "y",
    })
    assert response.status_code == 302
    agent = Staff.get(Staff.email == "nouvel.agent@ingroupe.fr")
    assert agent.procedure_codes() == {"COMPTE_PARTICULIER", "CQC"}
    mail = last_email(agent.email)
    assert "48 heures" in mail.body_text
    link = path_of(outbox_links(mail)[0])
    clock.advance(hours=47)
    other = app.test_client()
    assert "Cliquer ici pour continuer" in other.get(link).get_data(as_text=True)
    done = other.post(link + "/saisie", data={"password": TEST_PASSWORD, "confirm": TEST_PASSWORD})
    assert "/admin/connexion" in done.get_data(as_text=True)
    assert other.post("/admin/connexion", data={"email": agent.email, "password": TEST_PASSWORD}).status_code == 302
    assert "Comptes à analyser" in other.get("/admin/").get_data(as_text=True)


def test_an_expired_activation_leads_to_forgot_password(app, client, local_admin, clock):
    client.post("/admin/staff/new/", data={"email": "tard@ingroupe.fr", "first_name": "A", "last_name": "B",
                                            "role": "agent", "active": "y"})
    link = path_of(outbox_links(last_email("tard@ingroupe.fr"))[0])
    clock.advance(hours=49)
    page = app.test_client().get(link)
    assert page.status_code == 410 and "Mot de passe oublié" in page.get_data(as_text=True)
    app.test_client().post("/mot-de-passe-oublie", data={"email": "tard@ingroupe.fr"})
    fresh = path_of(outbox_links(last_email("tard@ingroupe.fr"))[0])
    assert fresh != link and app.test_client().get(fresh).status_code == 200


def test_the_local_admin_can_resend_an_activation_link(client, local_admin, make_staff):
    member = Staff.create(email="attente@ingroupe.fr", role=StaffRole.AGENT, first_name="A", last_name="B")
    assert "Renvoyer le lien" in client.get("/admin/staff/").get_data(as_text=True)
    client.post(f"/admin/staff/renvoyer/{member.id}")
    assert "Activer mon compte" in last_email("attente@ingroupe.fr").body_text


def test_habilitations_are_edited_per_procedure(client, local_admin, make_staff):
    agent = make_staff(procedures=["COMPTE_PARTICULIER"])
    client.post(f"/admin/staff/edit/?id={agent.id}", data={
        "first_name": agent.first_name, "last_name": agent.last_name, "active": "y",
        "procedures": _procedure_ids("CQC", "CQC_PERTE"),
    })
    assert Staff.get_by_id(agent.id).procedure_codes() == {"CQC", "CQC_PERTE"}
    assert AuditLog.select().where(AuditLog.action == "Habilitations modifiées").exists()


def test_a_deactivated_agent_loses_access(client, app, local_admin, make_staff, login_staff):
    agent = make_staff(procedures=["COMPTE_PARTICULIER"])
    client.post(f"/admin/staff/edit/?id={agent.id}", data={"first_name": "A", "last_name": "B", "procedures": []})
    other = app.test_client()
    response = other.post("/admin/connexion", data={"email": agent.email, "password": TEST_PASSWORD})
    assert response.status_code == 200 and "incorrect" in response.get_data(as_text=True)


def test_an_address_already_used_cannot_be_given_to_an_agent(client, local_admin, make_driver):
    make_driver(email="deja@exemple.fr")
    page = client.post("/admin/staff/new/", data={"email": "deja@exemple.fr", "first_name": "A", "last_name": "B",
                                                  "role": "agent", "active": "y"}).get_data(as_text=True)
    assert "déjà associée" in page
    assert not Staff.select().where(Staff.email == "deja@exemple.fr").exists()


@pytest.mark.parametrize("path", ["/admin/staff/", "/admin/subscriptions/", "/admin/outbox/", "/admin/audit/"])
def test_agents_cannot_reach_the_local_admin_areas(client, make_staff, login_staff, path):
    login_staff(make_staff(procedures=["COMPTE_PARTICULIER"]))
    assert client.get(path).status_code == 403


@pytest.mark.parametrize("path", ["/admin/", "/admin/account_queue/", "/admin/staff/", "/admin/approvals/"])
def test_a_public_account_is_refused_in_the_back_office(client, make_driver, login_user, path):
    login_user(make_driver(state="active"))
    assert client.get(path).status_code == 403


def test_anonymous_visitors_are_sent_to_the_staff_login(client):
    response = client.get("/admin/account_queue/")
    assert response.status_code == 302 and "/admin/connexion" in response.headers["Location"]


def test_subscriptions_require_an_access_modality_and_tell_of_new_files(client, local_admin, make_driver, runner):
    procedure = Procedure.by_code("COMPTE_PARTICULIER")
    page = client.post("/admin/subscriptions/new/", data={
        "procedure": procedure.id, "access_modality": "", "start_date": "2023-01-01",
        "notification_email": "instruction@ingroupe.fr"}).get_data(as_text=True)
    assert "sélection obligatoire" in page
    client.post("/admin/subscriptions/new/", data={
        "procedure": procedure.id, "access_modality": "portail", "start_date": "2023-01-01",
        "notification_email": "instruction@ingroupe.fr"})
    assert Subscription.select().count() == 1
    make_driver()
    result = runner.invoke(args=["jobs", "run-once", "new_files"])
    assert "'told': 1" in result.output
    assert "Nouveau télédossier" in last_email("instruction@ingroupe.fr").subject
    assert "'told': 0" in runner.invoke(args=["jobs", "run-once", "new_files"]).output


def test_the_audit_log_says_who_did_what(client, local_admin, make_driver):

    make_driver()
    client.post("/admin/gestion-des-teledossiers", data={"enable": "1"})
    page = client.get("/admin/audit/").get_data(as_text=True)
    assert "Gestion des télédossiers" in page and local_admin.email in [a.target for a in AuditLog.select()]


# --- The habilitation « Données de référence » ----------------------------------------------------------

#: The back-office areas of reference data, by the address of their list.
REFERENCE_LISTS = ["/admin/approvals/", "/admin/sirene/", "/admin/news/", "/admin/tariffs/", "/admin/procedures/",
                   "/admin/subscriptions/"]


def sirene_csv():
    with open(demo.SAMPLE_CSV, "rb") as handle:
        return {"file": (io.BytesIO(handle.read()), "StockEtablissement.csv")}


def approvals_csv():
    content = "siret;numero;type;formations;email;date\n47728084603753;AGR-1;Marchandises;FIMO;cfa@exemple.fr;28/12/2021\n"
    return {"file": (io.BytesIO(content.encode()), "agrements.csv")}


def reference_writes(today):
    """Return (method, path, form) of every way the reference-data areas change something."""
    return [
        ("POST", "/admin/approvals/new/", {"siret": "47728084603753", "number": "AGR-9", "category": "Marchandises",
                                           "trainings": ["FIMO"], "email": "cfa@exemple.fr", "granted_on": "2021-12-28"}),
        ("POST", "/admin/approvals/import", approvals_csv()),
        ("POST", "/admin/sirene/import", sirene_csv()),
        ("POST", "/admin/news/new/", {"text": "Nouveau tarif au 1er septembre", "published_on": today, "visible": "y"}),
        ("POST", "/admin/tariffs/new/", {"product": "CQC", "amount_ht": "29,50", "vat_rate": "20", "start_date": today}),
        ("POST", "/admin/subscriptions/new/", {"procedure": Procedure.by_code("CQC").id, "access_modality": "portail",
                                               "start_date": today, "notification_email": "instruction@ingroupe.fr"}),
    ]


def reference_rows():
    return [model.select().count() for model in (Approval, SireneEstablishment, News, Tariff, Subscription)]


def menu_links(page):
    """Return the back-office addresses the navigation bar links to."""
    nav = page.split("<nav", 1)[1].split("</nav>", 1)[0]
    return set(re.findall(r'href="(/admin/[^"?]*)"', nav))


@pytest.mark.parametrize("procedures", [[], ["CQC"]], ids=["sans habilitation", "une démarche"])
def test_an_agent_without_reference_data_is_refused_every_reference_route(client, make_staff, login_staff, procedures):
    from models import clock

    login_staff(make_staff(procedures=procedures))
    before = reference_rows()
    refused = [path for path in REFERENCE_LISTS if client.get(path).status_code != 403]
    refused += [path for path in ("/admin/approvals/new/", "/admin/news/new/", "/admin/tariffs/new/",
                                  "/admin/subscriptions/new/") if client.get(path).status_code != 403]
    news = News.create(text="Déjà publiée", published_on=clock.today())
    refused += [f"edit {news.id}"] if client.get(f"/admin/news/edit/?id={news.id}").status_code != 403 else []
    for method, path, form in reference_writes(clock.today().isoformat()):
        if client.open(path, method=method, data=form).status_code != 403:
            refused.append(path)
    assert refused == []
    assert reference_rows() == [before[0], before[1], before[2] + 1, before[3], before[4]]
    assert not AuditLog.select().where(AuditLog.action.contains("Sirene")).exists()


def test_reference_data_is_hidden_from_the_menu_of_an_agent_without_it(client, make_staff, login_staff):
    login_staff(make_staff(procedures=["COMPTE_PARTICULIER"]))
    links = menu_links(client.get("/admin/").get_data(as_text=True))
    assert "/admin/account_queue/" in links
    assert links.isdisjoint(REFERENCE_LISTS)
    assert "Référentiels" not in client.get("/admin/").get_data(as_text=True)


def test_a_local_admin_grants_reference_data_and_it_is_audited(app, client, local_admin, make_staff):
    from models import clock

    agent = make_staff(procedures=["COMPTE_PARTICULIER"])
    form = {"first_name": agent.first_name, "last_name": agent.last_name, "active": "y",
            "procedures": _procedure_ids("COMPTE_PARTICULIER")}
    assert 'name="manages_reference_data"' in client.get(f"/admin/staff/edit/?id={agent.id}").get_data(as_text=True)
    client.post(f"/admin/staff/edit/?id={agent.id}", data={**form, "manages_reference_data": "y"})
    assert Staff.get_by_id(agent.id).manages_reference_data
    granted = AuditLog.get(AuditLog.action == "Habilitation « Données de référence » accordée")
    assert granted.target == agent.email and granted.staff_id == local_admin.id
    row = client.get("/admin/staff/?search=" + agent.email).get_data(as_text=True)
    assert "Données de référence" in row and "Oui (administrateur local)" not in row.split(agent.email, 1)[1]

    other = app.test_client()
    other.post("/admin/connexion", data={"email": agent.email, "password": TEST_PASSWORD})
    home = other.get("/admin/").get_data(as_text=True)
    assert set(REFERENCE_LISTS) <= menu_links(home) and "habilitation « Données de référence »" in home
    for path in REFERENCE_LISTS:
        assert other.get(path).status_code == 200, path
    for method, path, data in reference_writes(clock.today().isoformat()):
        assert other.open(path, method=method, data=data).status_code == 302, path
    assert all(count > 0 for count in reference_rows())
    assert News.get().text == "Nouveau tarif au 1er septembre"
    # Local administrators' own areas stay theirs.
    assert [other.get(path).status_code for path in ("/admin/staff/", "/admin/outbox/", "/admin/audit/")] == [403] * 3

    client.post(f"/admin/staff/edit/?id={agent.id}", data=form)
    assert not Staff.get_by_id(agent.id).manages_reference_data
    assert AuditLog.select().where(AuditLog.action == "Habilitation « Données de référence » retirée").count() == 1
    assert other.get("/admin/news/").status_code == 403


def test_an_agent_is_created_with_reference_data(client, local_admin):
    client.post("/admin/staff/new/", data={"email": "referentiel@ingroupe.fr", "first_name": "Inès", "last_name": "Roy",
                                            "role": "agent", "manages_reference_data": "y", "active": "y"})
    assert Staff.get(Staff.email == "referentiel@ingroupe.fr").manages_reference_data
    assert AuditLog.get(AuditLog.action == "Habilitation « Données de référence » accordée").target == "referentiel@ingroupe.fr"


def test_local_admins_keep_reference_data_without_the_habilitation(client, local_admin):
    assert not local_admin.manages_reference_data
    assert [client.get(path).status_code for path in REFERENCE_LISTS] == [200] * len(REFERENCE_LISTS)


# --- The outbox: links with a token are masked; a resend is audited -------------------------------------


def secrets_of(message):
    """Return the token part of each link with a token in a queued message."""
    return [re.search(r"/(?:mot-de-passe|a-corriger)/([^/\s]+)", link).group(1) for link in outbox_links(message)
            if "/mot-de-passe/" in link or "/a-corriger/" in link]


def test_staff_read_password_activation_and_correction_links_masked(client, local_admin, make_staff, make_driver):
    staff_service.send_activation(make_staff())
    driver = make_driver()
    notices.password_link(driver)
    notices.correction_link(driver, [])
    messages = list(OutboxMessage.select().where(OutboxMessage.body_text.contains("/mot-de-passe/")
                                                 | OutboxMessage.body_text.contains("/a-corriger/")))
    assert len(messages) == 3
    listing = client.get("/admin/outbox/").get_data(as_text=True)
    for message in messages:
        tokens = secrets_of(message)
        assert tokens and all(len(token) > 20 for token in tokens)
        details = client.get(f"/admin/outbox/details/?id={message.id}").get_data(as_text=True)
        body = client.get(f"/admin/outbox/html/{message.id}").get_data(as_text=True)
        for page in (listing, details, body):
            assert not any(token in page for token in tokens)
        assert "/••••" in details and 'href="http://localhost/' in body and "/••••" in body
    # Only the reading is masked: the e-mail sent carries the working link.
    assert all(secrets_of(message)[0] in OutboxMessage.get_by_id(message.id).body_html for message in messages)


def test_a_text_only_message_is_masked_in_the_frame_too(client, local_admin, make_driver):
    from services import outbox

    outbox.queue_sms("+33612345678", "Votre lien : http://localhost/mot-de-passe/SecretToken123456789012")
    message = OutboxMessage.get(OutboxMessage.channel == "sms")
    for path in ("/admin/outbox/", f"/admin/outbox/details/?id={message.id}", f"/admin/outbox/html/{message.id}"):
        page = client.get(path).get_data(as_text=True)
        assert "SecretToken" not in page and "mot-de-passe/••••" in page, path


def test_resending_an_activation_link_is_audited(client, local_admin):
    member = Staff.create(email="relance@ingroupe.fr", role=StaffRole.AGENT, first_name="A", last_name="B")
    client.post(f"/admin/staff/renvoyer/{member.id}")
    line = AuditLog.get(AuditLog.action == "Lien d'activation renvoyé")
    assert line.target == "relance@ingroupe.fr" and line.staff_id == local_admin.id
    assert "Activer mon compte" in last_email("relance@ingroupe.fr").body_text


def test_a_bulk_action_posted_on_subscriptions_changes_nothing(client, local_admin):
    subscription = Subscription.create(procedure=Procedure.by_code("CQC"), access_modality="portail",
                                       start_date="2023-01-01", notification_email="instruction@ingroupe.fr")
    response = client.post("/admin/subscriptions/action/", data={"action": "delete", "rowid": [subscription.id]})
    assert response.status_code == 302 and Subscription.select().count() == 1
