"""The holder's rights (RGPD): « Télécharger mes données » (a ZIP prepared by a job, a 48-hour link for its owner
only) and « Fermer mon compte » (no more login, personal data erased, invoices and the card register kept)."""
import html
import io
import json
import zipfile

import pytest

from models import (
    AuditLog, Card, Certificate, Consent, CqcRequest, DataExport, Document, Dossier, Driver, Invoice, Notification,
    Role, Training, User,
)
from services import audit_chain, cards, dossiers, documents, outbox, storage
from tests import cqc_files
from tests.conftest import TEST_PASSWORD, last_email, outbox_links, path_of
from tests.driver_data import PDF, complete_request, fast_pdfs, make_centre, record
from tests.money_data import make_tariff, notification, pending_payment


@pytest.fixture(autouse=True)
def _fast_pdfs(monkeypatch):
    fast_pdfs(monkeypatch)
    monkeypatch.setattr(documents, "render_pdf", lambda template, **context: PDF)


@pytest.fixture
def agent(make_staff):
    return make_staff(procedures=["CQC", "CQC_PERTE"])


def holder_with_everything(make_driver, agent, n=1, **identity):
    """A driver with a training and certificate, a delivered CQC, a paid replacement (its invoice) refused, a
    notification."""
    user = make_driver(state="active", **identity)
    record(make_centre(n), user)
    dossier = complete_request(user)
    dossiers.take(dossier, agent)
    card = dossiers.accept(Dossier.get_by_id(dossier.id), agent)
    cards.move(card, "ship", staff=agent)
    cards.move(Card.get_by_id(card.id), "deliver", staff=agent)
    payment = pending_payment(user)
    dossiers.settle_payment(notification(payment))
    replacement = Dossier.get_by_id(payment.dossier_id)
    dossiers.take(replacement, agent)
    dossiers.reject(Dossier.get_by_id(replacement.id), agent, "Déclaration incomplète")
    outbox.notify(user, "Votre carte est livrée.", link="/mes-cartes/", template="notification", subject="Carte livrée")
    return User.get_by_id(user.id)


@pytest.fixture
def holder(make_driver, agent):
    make_tariff()
    return holder_with_everything(make_driver, agent, last_name="Martin", first_name="Anne",
                                  email="anne.martin@exemple.fr", licence_number="13AA00001")


@pytest.fixture
def stranger(make_driver, agent, holder):
    return holder_with_everything(make_driver, agent, n=2, last_name="Zorglub", first_name="Ursule",
                                  email="ursule.zorglub@victime.fr", licence_number="77ZZ12345")


def text(response):
    """Return a page as a person reads it (entities decoded)."""
    return html.unescape(response.get_data(as_text=True))


def export_link(client, runner, user):
    """Ask for the export from « Mon compte », run the job, return the path of the link e-mailed."""
    answer = client.post("/mon-compte/mes-donnees")
    assert answer.status_code == 302
    assert "data_exports : 1" in runner.invoke(args=["jobs", "run-once", "data_exports"]).output
    message = last_email(user.email)
    assert message.subject == "Vos données Hub Pro Transport sont prêtes"
    return path_of(next(link for link in outbox_links(message) if "/mon-compte/mes-donnees/" in link))


# --- « Télécharger mes données » ---------------------------------------------------------------------------------


def test_the_export_holds_everything_about_the_person_and_nothing_of_anyone_else(client, runner, login_user, holder,
                                                                                  stranger):
    login_user(holder)
    assert "Télécharger mes données" in text(client.get("/mon-compte"))
    client.post("/mon-compte/mes-donnees")
    assert "en cours de préparation" in text(client.get("/mon-compte"))
    assert DataExport.select().where(DataExport.user == holder.id).count() == 1
    link = export_link(client, runner, holder)
    assert DataExport.select().where(DataExport.user == holder.id).count() == 1  # the waiting request was reused
    assert "data_exports : 0" in runner.invoke(args=["jobs", "run-once", "data_exports"]).output

    answer = client.get(link)
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    assert "attachment" in answer.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    names = archive.namelist()
    assert {"donnees.json", "resume.html"} <= set(names)
    data = json.loads(archive.read("donnees.json"))
    assert {"account", "identity", "consents", "files", "trainings", "certificates", "cards", "payments", "invoices",
            "notifications", "audit"} <= set(data)
    assert data["account"]["email"] == holder.email and "password_hash" not in data["account"]
    assert "session_key" not in data["account"]
    assert data["identity"]["licence_number"] == "13AA00001"
    assert len(data["consents"]) == len(Consent.select().where(Consent.user == holder.id))
    procedures_exported = {file["procedure"] for file in data["files"]}
    assert {"Analyse d'un compte particulier", "Carte de qualification de conducteur (CQC)"} <= procedures_exported
    cqc = next(file for file in data["files"] if file["procedure"] == "Carte de qualification de conducteur (CQC)")
    assert [step["event"] for step in cqc["history"]][:3] == ["create", "submit", "take"]
    assert cqc["data"]["delivery_city"] and len(cqc["documents"]) == 3
    for document in cqc["documents"]:
        stored = Document.get_by_id(document["id"])
        assert archive.read(document["file_in_zip"]) == storage.read(stored.path)
    assert {c["number"] for c in data["cards"]} == {c.number for c in Card.select().where(Card.user == holder.id)}
    assert [step["to_state"] for step in data["cards"][0]["history"]][-1] == "livree"
    assert data["trainings"] and data["certificates"] and data["payments"]
    invoice = Invoice.get(Invoice.user == holder.id)
    assert data["invoices"][0]["number"] == invoice.number and data["invoices"][0]["lines"]
    assert archive.read(data["invoices"][0]["file_in_zip"]) == storage.read(invoice.pdf_path)
    assert any(n["message"] == "Votre carte est livrée." for n in data["notifications"])
    assert any(line["action"] == "Export des données personnelles demandé" for line in data["audit"])
    summary = archive.read("resume.html").decode()
    assert "Mes données – Hub Pro Transport" in summary and "13AA00001" in summary and "<script" not in summary
    # Nothing of the other driver, in any file of the ZIP.
    for name in names:
        content = archive.read(name)
        for marker in (b"Zorglub", b"ursule.zorglub@victime.fr", b"77ZZ12345", stranger.email.encode()):
            assert marker not in content, (name, marker)
    assert AuditLog.select().where(AuditLog.action == "Export des données personnelles téléchargé").count() == 1


def test_the_link_opens_for_its_owner_only_and_expires_after_48_hours(app, client, runner, login_user, holder,
                                                                       stranger, clock):
    login_user(holder)
    link = export_link(client, runner, holder)
    export = DataExport.get(DataExport.user == holder.id)
    client.post("/deconnexion")
    # Anonymous: sent to the login first; another account: nobody's link.
    assert "/connexion" in client.get(link).headers["Location"]
    login_user(stranger)
    assert client.get(link).status_code == 404
    client.post("/deconnexion")
    login_user(holder)
    assert client.get(link).status_code == 200
    assert client.get("/mon-compte/mes-donnees/lien-inconnu-0123456789").status_code == 404
    clock.advance(hours=49)
    expired = client.get(link)
    assert expired.status_code == 410 and "Ce lien a expiré" in text(expired)
    # Retention erases the ZIP; the link keeps saying it expired.
    from services import retention

    assert retention.run()["expired_exports"] == 1
    assert not storage.exists(export.path) and DataExport.get_by_id(export.id).path is None
    assert retention.run()["expired_exports"] == 0
    assert client.get(link).status_code == 410


# --- « Fermer mon compte » ---------------------------------------------------------------------------------------


def test_closing_the_account_erases_personal_data_and_keeps_invoices_and_the_card_register(app, client, runner,
                                                                                            login_user, holder,
                                                                                            stranger):
    other_device = app.test_client()
    login_user(holder)
    assert other_device.post("/connexion", data={"email": holder.email, "password": TEST_PASSWORD}).status_code == 302
    card = Card.select().where(Card.user == holder.id).order_by(Card.id).first()
    invoice = Invoice.get(Invoice.user == holder.id)
    documents_of = list(Document.select().join(Dossier).where(Dossier.user == holder.id))
    certificate = Certificate.get(Certificate.user == holder.id)
    page = text(client.get("/mon-compte/fermer"))
    assert "Vos factures et avoirs" in page and "Le registre des cartes délivrées" in page

    wrong = client.post("/mon-compte/fermer", data={"password": "Pas-le-bon-42!"})
    assert wrong.status_code == 200 and "Mot de passe incorrect" in text(wrong)
    assert User.get_by_id(holder.id).deleted_at is None

    closed = client.post("/mon-compte/fermer", data={"password": TEST_PASSWORD})
    assert closed.status_code == 200 and "Votre compte est fermé" in text(closed)
    assert "Vos factures et avoirs" in text(closed)

    # No more login, every session ended.
    assert "/connexion" in client.get("/mon-compte").headers["Location"]
    assert "/connexion" in other_device.get("/mon-compte").headers["Location"]
    assert client.post("/connexion", data={"email": "anne.martin@exemple.fr", "password": TEST_PASSWORD}).status_code == 200
    # Personal fields anonymised, identity and what hangs on it erased.
    user = User.get_by_id(holder.id)
    assert user.email == f"{holder.id}.ferme@comptes.invalid" and user.deleted_email == ""
    assert (user.last_name, user.first_name, user.phone, user.password_hash) == ("Compte fermé", "", "", None)
    assert user.deleted_at is not None
    assert Driver.get_or_none(Driver.user == holder.id) is None
    for model in (Consent, Notification, DataExport, Certificate):
        assert model.select().where(model.user == holder.id).count() == 0
    assert not storage.exists(certificate.pdf_path)
    assert all(Document.get_by_id(d.id).purged_at is not None and not storage.exists(d.path) for d in documents_of)
    request = CqcRequest.get(CqcRequest.dossier == card.dossier_id)
    assert (request.delivery_name, request.delivery_address) == ("", "")
    assert Training.select().where(Training.user == holder.id).count() == 0
    # What the law keeps: the invoice as issued, the card as printed.
    kept_invoice = Invoice.get_by_id(invoice.id)
    assert (kept_invoice.user_id, kept_invoice.buyer_name, kept_invoice.pdf_path) == (
        holder.id, invoice.buyer_name, invoice.pdf_path)
    assert storage.exists(invoice.pdf_path)
    kept_card = Card.get_by_id(card.id)
    assert (kept_card.number, kept_card.last_name, kept_card.licence_number) == (
        card.number, card.last_name, card.licence_number)
    assert kept_card.delivery_lines == ""
    # Told by e-mail at the address it had, with what is kept and why.
    message = last_email("anne.martin@exemple.fr")
    assert message.subject == "Votre compte Hub Pro Transport est fermé" and "code de commerce" in message.body_text
    assert AuditLog.select().where(AuditLog.action == "Compte fermé par son titulaire").count() == 1
    assert audit_chain.verify().intact
    # The other driver is untouched; the address is free for a new account.
    assert User.get_by_id(stranger.id).deleted_at is None and Driver.get_or_none(Driver.user == stranger.id)
    assert User.by_email("anne.martin@exemple.fr") is None


def test_wrong_passwords_lock_the_closure_like_the_login(client, login_user, make_driver):
    user = make_driver(state="active")
    login_user(user)
    for _ in range(5):
        client.post("/mon-compte/fermer", data={"password": "Pas-le-bon-42!"})
    locked = client.post("/mon-compte/fermer", data={"password": TEST_PASSWORD})
    assert "Trop de mots de passe erronés" in text(locked)
    assert User.get_by_id(user.id).deleted_at is None


def test_a_file_under_instruction_or_a_card_on_its_way_waits_for_the_closure(client, login_user, make_driver, agent):
    user = make_driver(state="active")
    record(make_centre(), user)
    dossier = complete_request(user)
    login_user(user)
    page = text(client.get("/mon-compte/fermer"))
    assert f"Votre demande n° {dossier.id} est en cours d'instruction" in page and 'name="password"' not in page
    client.post("/mon-compte/fermer", data={"password": TEST_PASSWORD})
    assert User.get_by_id(user.id).deleted_at is None
    dossiers.take(dossier, agent)
    dossiers.accept(Dossier.get_by_id(dossier.id), agent)
    assert "en fabrication ou en cours d'acheminement" in text(client.get("/mon-compte/fermer"))


def test_the_last_administrator_cannot_close_but_a_second_one_can(client, login_user):
    centre = cqc_files.make_centre()
    admin = cqc_files.make_member(centre, Role.ORG_ADMIN, email="direction@formatrans.fr")
    login_user(admin)
    page = text(client.get("/mon-compte/fermer"))
    assert "Vous êtes le dernier administrateur de FORMATRANS" in page
    client.post("/mon-compte/fermer", data={"password": TEST_PASSWORD})
    assert User.get_by_id(admin.id).deleted_at is None
    deputy = cqc_files.make_member(centre, Role.ORG_DEPUTY, email="adjoint@formatrans.fr")
    closed = client.post("/mon-compte/fermer", data={"password": TEST_PASSWORD})
    assert "Votre compte est fermé" in text(closed)
    assert "Les demandes faites pour votre organisme" in text(closed)
    assert User.get_by_id(admin.id).deleted_at is not None and User.get_by_id(deputy.id).deleted_at is None
    client.post("/deconnexion")
    login_user(deputy)
    assert "dernier administrateur" in text(client.get("/mon-compte/fermer"))


def test_an_administrator_s_export_names_the_organisation_and_only_their_own_lines(client, runner, login_user):
    centre = cqc_files.make_centre()
    admin = cqc_files.make_member(centre, Role.ORG_ADMIN, email="direction@formatrans.fr")
    colleague = cqc_files.make_member(centre, Role.ORG_DEPUTY, email="adjoint@formatrans.fr")
    login_user(colleague)
    client.post("/mon-compte/mes-donnees")
    assert "data_exports : 1" in runner.invoke(args=["jobs", "run-once", "data_exports"]).output
    client.post("/deconnexion")
    login_user(admin)
    link = export_link(client, runner, admin)
    archive = zipfile.ZipFile(io.BytesIO(client.get(link).data))
    data = json.loads(archive.read("donnees.json"))
    assert data["organisation"]["siret"] == centre.siret and data["identity"] is None
    assert data["account"]["email"] == "direction@formatrans.fr"
    assert all(line["user_id"] == admin.id or line["target"] == admin.email for line in data["audit"])
    assert b"adjoint@formatrans.fr" not in archive.read("donnees.json")
