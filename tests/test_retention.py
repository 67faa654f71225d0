"""Retention (DESIGN §5, RGPD): every rule with the clock moved, each purge logged and idempotent."""
import pytest

from models import (
    AuditLog, Card, Certificate, CqcRequest, Document, Dossier, DossierEvent, Anomaly, Invoice, Organisation,
    OutboxMessage, OutboxStatus, Role, RequestState, Training, User, db,
)
from services import (
    audit, audit_chain, cards, documents, dossiers, invoices, outbox, passwords, retention, storage, transitions, uploads,
)
from tests import cqc_files
from tests.conftest import TEST_PASSWORD
from tests.driver_data import JPEG, PDF, complete_request, fast_pdfs, file_storage, make_centre, record
from tests.money_data import make_tariff, notification, pending_payment


@pytest.fixture(autouse=True)
def _fast_pdfs(monkeypatch):
    fast_pdfs(monkeypatch)
    monkeypatch.setattr(documents, "render_pdf", lambda template, **context: PDF)


@pytest.fixture
def agent(make_staff):
    return make_staff(procedures=["CQC"])


@pytest.fixture
def driver(make_driver):
    user = make_driver(state="active", last_name="Martin", first_name="Anne")
    record(make_centre(), user)
    return user


def counts():
    return retention.run()


def nothing_left(before_lines):
    """A second run erases nothing and writes nothing."""
    assert set(counts().values()) == {0}
    assert AuditLog.select().count() == before_lines


def stored(document):
    return storage.exists(document.path)


def audit_detail():
    return AuditLog.select().where(AuditLog.action == "Conservation des données : effacements").order_by(
        AuditLog.id.desc()).first().detail


def delivered_card(user, agent):
    dossier = complete_request(user)
    dossiers.take(dossier, agent)
    card = dossiers.accept(Dossier.get_by_id(dossier.id), agent)
    cards.move(card, "ship", staff=agent)
    cards.move(Card.get_by_id(card.id), "deliver", staff=agent)
    return Dossier.get_by_id(dossier.id), Card.get_by_id(card.id)


def test_identity_documents_photos_and_signatures_go_six_months_after_delivery(client, login_user, driver, agent,
                                                                                  make_driver, clock):
    dossier, card = delivered_card(driver, agent)
    other = make_driver(state="active")
    record(make_centre(2), other)
    waiting = complete_request(other)  # sent, no card yet: nothing of it goes
    documents_of = list(Document.select().where(Document.dossier == dossier.id))
    assert len(documents_of) == 3 and all(stored(d) for d in documents_of)
    clock.advance(days=175)
    assert counts()["card_documents"] == 0
    clock.advance(days=10)
    assert counts()["card_documents"] == 3
    assert "pièces d'identité, photos et signatures effacées (carte livrée depuis 6 mois) : 3" in audit_detail()
    for document in documents_of:
        assert not storage.exists(document.path)
        row = Document.get_by_id(document.id)
        assert row.purged_at is not None and row.path == "" and row.original_name == ""
    assert all(stored(d) for d in Document.select().where(Document.dossier == waiting.id))
    # The card keeps what it prints; its visual shows no photo any more, the file's page says « effacé ».
    kept = Card.get_by_id(card.id)
    assert (kept.last_name, kept.number, kept.licence_number) == (card.last_name, card.number, card.licence_number)
    login_user(driver)
    page = client.get("/mes-cartes/").get_data(as_text=True)
    assert f"/documents/{documents_of[0].id}" not in page
    assert client.get(f"/mes-demandes/{dossier.id}/documents/{documents_of[0].id}").status_code == 404
    nothing_left(AuditLog.select().count())


def test_cancelled_files_lose_documents_and_data_at_the_next_run(driver, clock):
    draft = dossiers.start("CQC", driver)
    photo = uploads.save_document(draft, "photo", file_storage(JPEG, "photo.jpg"))
    CqcRequest.update(delivery_name="Anne Martin", delivery_address="12 rue des Lilas", delivery_city="Lille").where(
        CqcRequest.dossier == draft.id).execute()
    # Cancelled by the lifecycle alone (a path that erased nothing): the next run erases it.
    transitions.transition(Dossier.get_by_id(draft.id), "cancel", user=driver, comment="Annulée")
    assert counts()["cancelled_files"] == 1
    request = CqcRequest.get(CqcRequest.dossier == draft.id)
    assert (request.delivery_name, request.delivery_address, request.delivery_city) == ("", "", "")
    assert request.training_id is not None  # what links the file stays
    assert Document.get_by_id(photo.id).purged_at is not None and not storage.exists(photo.path)
    assert DossierEvent.select().where(DossierEvent.dossier == draft.id, DossierEvent.comment != "").count() == 0
    assert Dossier.get_by_id(draft.id).erased_at is not None
    nothing_left(AuditLog.select().count())


def test_refused_files_are_erased_a_year_after_the_refusal(driver, agent, clock):
    dossier = complete_request(driver)
    dossiers.take(dossier, agent)
    dossiers.ask_info(Dossier.get_by_id(dossier.id), agent, {"delivery_city": "Commune inconnue : Lile"})
    dossiers.answer(Dossier.get_by_id(dossier.id), driver, {"delivery_city": "Lille"}, {})
    dossiers.reject(Dossier.get_by_id(dossier.id), agent, "Photo non conforme")
    paths = [d.path for d in Document.select().where(Document.dossier == dossier.id)]
    clock.advance(days=360)
    assert counts()["refused_files"] == 0
    clock.advance(days=10)
    assert counts()["refused_files"] == 1
    assert "demandes refusées depuis 1 an effacées : 1" in audit_detail()
    kept = Dossier.get_by_id(dossier.id)
    assert kept.state == RequestState.REFUSEE and kept.erased_at is not None
    assert not any(storage.exists(path) for path in paths)
    assert Document.select().where(Document.dossier == dossier.id, Document.purged_at.is_null()).count() == 0
    anomaly = Anomaly.get(Anomaly.dossier == dossier.id)
    assert (anomaly.old_value, anomaly.new_value, anomaly.reason) == ("", None, "")
    assert {e.comment for e in DossierEvent.select().where(DossierEvent.dossier == dossier.id)} == {""}
    assert CqcRequest.get(CqcRequest.dossier == dossier.id).delivery_city == ""
    nothing_left(AuditLog.select().count())


def test_message_texts_go_a_year_after_sending_and_the_line_stays(app, clock):
    sent = outbox.queue_email("anne@exemple.fr", "notification", "Votre carte est expédiée", user=User(
        first_name="Anne", last_name="Martin"), message="Votre carte est partie.", link="http://localhost/")
    outbox.dispatch()
    assert OutboxMessage.get_by_id(sent.id).status == OutboxStatus.KEPT
    clock.advance(days=300)
    later = outbox.queue_sms("+33612345678", "Hub Pro Transport : votre code")
    clock.advance(days=70)
    assert counts()["message_texts"] == 1
    line = OutboxMessage.get_by_id(sent.id)
    assert (line.body_text, line.body_html, line.attachments) == ("", "", "[]")
    assert (line.recipient, line.subject, line.sent_at is not None, line.erased_at is not None) == (
        "anne@exemple.fr", "Votre carte est expédiée", True, True)
    assert OutboxMessage.get_by_id(later.id).body_text  # still pending: kept
    nothing_left(AuditLog.select().count())


def test_accounts_never_activated_are_deleted_after_six_months(runner, make_driver, clock):
    waiting = make_driver()  # in analysis, never activated
    compliant = make_driver(state="conforme")  # accepted, never created its password: its training waits for it
    centre = make_centre()
    training = record(centre, compliant)
    certificate = Certificate.get(Certificate.training == training.id)
    summary, certificate_pdf = Training.get_by_id(training.id).summary_path, certificate.pdf_path
    assert storage.exists(summary) and storage.exists(certificate_pdf)
    active = make_driver(state="active")
    company = Organisation.create(kind="entreprise", siret="80295478500028", name="TRANSPORTS DORMANTS")
    dormant_admin = User.create(email="admin@dormants.fr", role=Role.ORG_ADMIN, organisation=company,
                                last_name="Dort", first_name="Paul")
    busy = Organisation.create(kind="entreprise", siret="80295478500036", name="TRANSPORTS ACTIFS")
    cqc_files.make_member(busy, Role.ORG_ADMIN, email="admin@actifs.fr")
    unused_manager = User.create(email="gestion@actifs.fr", role=Role.ORG_MANAGER, organisation=busy,
                                 last_name="Lent", first_name="Luc")
    audit.record("Mot de passe oublié", waiting.email, user=waiting)
    clock.advance(days=175)
    assert counts()["unactivated_accounts"] == 0
    clock.advance(days=10)
    assert counts()["unactivated_accounts"] == 4
    assert "comptes jamais activés depuis 6 mois supprimés : 4" in audit_detail()
    gone = [waiting.id, compliant.id, dormant_admin.id, unused_manager.id]
    assert User.select().where(User.id.in_(gone)).count() == 0
    assert Dossier.select().where(Dossier.user.in_(gone)).count() == 0
    assert User.get_by_id(active.id).deleted_at is None
    assert Organisation.get_or_none(Organisation.id == company.id) is None  # left empty: deleted
    assert Organisation.get_or_none(Organisation.id == busy.id) is not None
    # The centre's training stays, unattached and ready to be published again for a new account.
    kept = Training.get_by_id(training.id)
    assert (kept.user_id, kept.summary_path) == (None, None)
    assert not storage.exists(summary) and not storage.exists(certificate_pdf)
    assert Certificate.get_or_none(Certificate.id == certificate.id) is None
    # Their audit lines stay, attributed as written: the chain still verifies.
    assert AuditLog.get(AuditLog.action == "Mot de passe oublié").actor_ref == f"u{waiting.id}"
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    nothing_left(AuditLog.select().count())


def test_an_administrator_never_activated_stays_while_others_work_in_the_organisation(make_driver, clock):
    company = Organisation.create(kind="entreprise", siret="80295478500044", name="TRANSPORTS PARTAGÉS")
    admin = User.create(email="admin@partages.fr", role=Role.ORG_ADMIN, organisation=company, last_name="A",
                        first_name="B")
    cqc_files.make_member(company, Role.ORG_MANAGER, email="gestion@partages.fr")
    clock.advance(days=200)
    assert counts()["unactivated_accounts"] == 0
    assert User.get_by_id(admin.id).deleted_at is None


def test_audit_lines_are_kept_five_years(runner, clock):
    audit.record("Connexion", "ancienne@exemple.fr")
    clock.advance(days=365 * 5 - 2)
    audit.record("Connexion", "recente@exemple.fr")
    assert counts()["audit_lines"] == 0
    clock.advance(days=5)
    assert counts()["audit_lines"] == 1
    assert [line.target for line in AuditLog.select().order_by(AuditLog.id)][:1] == ["recente@exemple.fr"]
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    nothing_left(AuditLog.select().count())


def test_invoice_pdfs_go_after_ten_years_and_the_invoice_stays(driver, clock):
    make_tariff()
    payment = pending_payment(driver)
    dossiers.settle_payment(notification(payment))
    invoice = Invoice.get(Invoice.payment == payment.id)
    assert invoice.pdf_path and storage.exists(invoice.pdf_path)
    clock.advance(days=365 * 10)
    assert invoices.purge_expired() == 0
    clock.advance(days=5)
    assert invoices.purge_expired() == 1
    kept = Invoice.get_by_id(invoice.id)
    assert kept.pdf_path is None and kept.number == invoice.number and kept.total_ttc == invoice.total_ttc
    assert not storage.exists(invoice.pdf_path)
    assert invoices.purge_expired() == 0


def test_the_job_is_registered_and_a_second_run_changes_nothing(runner, driver, agent, clock):
    draft = dossiers.start("CQC", driver)
    dossiers.cancel(draft, driver)
    delivered_card(driver, agent)
    clock.advance(days=400)
    first = runner.invoke(args=["jobs", "run-once", "retention"]).output
    assert "retention : " in first and "retention : 0" not in first
    with db.atomic():
        before = (AuditLog.select().count(), Document.select().where(Document.purged_at.is_null()).count(),
                  OutboxMessage.select().where(OutboxMessage.erased_at.is_null()).count())
    assert "retention : 0" in runner.invoke(args=["jobs", "run-once", "retention"]).output
    assert (AuditLog.select().count(), Document.select().where(Document.purged_at.is_null()).count(),
            OutboxMessage.select().where(OutboxMessage.erased_at.is_null()).count()) == before
    assert audit_chain.verify().intact


def test_an_account_activated_later_is_not_deleted(make_driver, clock):
    user = make_driver(state="conforme")
    clock.advance(days=100)
    User.update(password_hash=passwords.hash_password(TEST_PASSWORD)).where(User.id == user.id).execute()
    clock.advance(days=100)
    assert counts()["unactivated_accounts"] == 0
    assert User.get_or_none(User.id == user.id) is not None
