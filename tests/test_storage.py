"""The storage of uploaded and issued files, on both backends: the instance folder and an S3 bucket served by moto's
S3-compatible server, reached through the real boto3 client; and `flask storage copy-to-s3`."""
import base64
import email
import email.policy
import hashlib
import os
import re
import secrets
import socket

import boto3
import pytest
from aiosmtpd.controller import Controller
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer
from werkzeug.exceptions import NotFound

from app import create_app
from models import Dossier, Document, Invoice, OutboxMessage, OutboxStatus, Procedure, RequestState, StaffRole
from services import documents, dossiers, outbox, procedures, storage
from tests.conftest import TEST_PASSWORD, make_config
from tests.driver_data import JPEG, PDF, PNG, fast_pdfs, make_centre, record, upload
from tests.money_data import make_tariff, notification, pending_payment

KEYS = {"S3_ACCESS_KEY_ID": "hubpro-test", "S3_SECRET_ACCESS_KEY": "hubpro-test-secret", "S3_REGION": "eu-west-3"}
#: Tests that only make sense on one store name it; the others run on both.
ON_S3 = pytest.mark.parametrize("app_config", ["s3"], indirect=True)
#: A local store with a bucket configured next to it: what an operator has before `flask storage copy-to-s3`.
LOCAL_WITH_BUCKET = pytest.mark.parametrize("app_config", ["local"], indirect=True)


@pytest.fixture(scope="session")
def s3_server():
    """Start moto's S3-compatible server on a free port for the whole run; return its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3(s3_server):
    """A boto3 client of the test server, to look at the buckets from outside the app."""
    return boto3.client("s3", endpoint_url=s3_server, aws_access_key_id=KEYS["S3_ACCESS_KEY_ID"],
                        aws_secret_access_key=KEYS["S3_SECRET_ACCESS_KEY"], region_name=KEYS["S3_REGION"])


@pytest.fixture
def bucket(s3):
    """Create an empty bucket for one test; return its name."""
    name = f"hubpro-{secrets.token_hex(6)}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": KEYS["S3_REGION"]})
    return name


@pytest.fixture(params=["local", "s3"])
def app_config(request, s3_server, bucket):
    """Run each test on the instance folder and on the bucket (both configured: the copy command reads the two)."""
    return {"STORAGE_BACKEND": request.param, "S3_ENDPOINT_URL": s3_server, "S3_BUCKET": bucket, **KEYS}


def sha256_b64(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def in_local_folder(key):
    return os.path.exists(storage.full_path(key))


def alter_at_rest(bucket, key):
    """Change an object's bytes inside the S3 server, its kept checksum untouched (a disk's silent corruption)."""
    stored = next(regional.buckets[bucket].keys[key] for account in s3_backends.values()
                  for regional in account.values() if bucket in regional.buckets)
    value = stored.value
    stored.value = value[:-1] + bytes([value[-1] ^ 0xFF])


def logged_in(app, account, path="/connexion"):
    """Return a new test client logged in as a public account (path="/admin/connexion" for staff)."""
    browser = app.test_client()
    response = browser.post(path, data={"email": account.email, "password": TEST_PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser


# --- The interface, on both stores --------------------------------------------------------------------------


def test_a_stored_file_gets_a_random_name_reads_back_and_is_erased(app, app_config, s3):
    first, second = storage.store(PDF, "essais", ".pdf"), storage.store(PDF, "essais", ".pdf")
    assert first != second and all(re.fullmatch(r"essais/[0-9a-f]{32}\.pdf", key) for key in (first, second))
    assert storage.read(first) == PDF and storage.exists(first)
    # The file is where the setting says, and only there.
    assert in_local_folder(first) == (app_config["STORAGE_BACKEND"] == "local")
    listed = s3.list_objects_v2(Bucket=app_config["S3_BUCKET"]).get("Contents", [])
    assert sorted(item["Key"] for item in listed) == (sorted([first, second]) if app_config["STORAGE_BACKEND"] == "s3" else [])
    storage.delete(first)
    storage.delete(first)  # erasing a file already gone is not an error
    assert not storage.exists(first) and storage.exists(second)
    with pytest.raises(FileNotFoundError):
        storage.read(first)


def test_a_key_that_would_leave_the_storage_is_refused(app):
    for key in ("../secret_key", "/etc/passwd", "essais/../../x", "essais//x", "essais\\..\\x", "", "essais/./x"):
        with pytest.raises(ValueError):
            storage.read(key)
        with pytest.raises(ValueError):
            storage.delete(key)
    for folder in ("..", "/etc", "essais/../.."):
        with pytest.raises(ValueError):
            storage.store(PDF, folder, ".pdf")
    with pytest.raises(NotFound):
        storage.send("../secret_key", "application/pdf", "x.pdf")


def test_a_stored_file_is_streamed_with_its_length_and_never_cached(app):
    big = PDF + secrets.token_bytes(3 * storage.CHUNK_SIZE + 17)
    key = storage.store(big, "essais", ".pdf")
    response = storage.send(key, "application/pdf", "relevé\n2024.pdf", download=True)
    assert response.is_streamed and response.content_length == len(big)
    assert b"".join(response.response) == big
    response.close()
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"relev_ 2024.pdf\"; filename*=UTF-8''relev%C3%A9%202024.pdf")
    assert response.headers["Cache-Control"] == "private, no-store"


# --- A document uploaded through the request form, read back by whom the views allow -------------------------


@pytest.fixture
def sent_request(app, make_driver, monkeypatch):
    """A driver who sends a CQC request through the form's steps, uploading three files; return (driver, file)."""
    fast_pdfs(monkeypatch)
    driver = make_driver(state="active")
    record(make_centre(), driver)
    browser = logged_in(app, driver)
    assert browser.post("/mes-demandes/cqc").status_code == 302
    dossier = Dossier.select().join(Procedure).where(Procedure.code == "CQC").order_by(Dossier.id.desc()).get()
    posts = {
        "identite": {"identity_confirmed": "y"},
        "photo": {"document": upload(JPEG, "photo.jpg")},
        "signature": {"document": upload(PNG, "signature.png")},
        "piece_identite": {"document": upload(PDF, "carte d'identité.pdf")},
        "adresse": {"delivery_name": "Paul MARTIN", "delivery_address": "3 place du Général de Gaulle",
                    "delivery_address_extra": "", "delivery_postal_code": "59800", "delivery_city": "Lille"},
        "recapitulatif": {"action": "valider"},
    }
    for step in procedures.get("CQC").step_names:
        response = browser.post(f"/mes-demandes/{dossier.id}/etapes/{step}", data={"action": "suivant", **posts[step]},
                                content_type="multipart/form-data")
        assert response.status_code == 302, (step, response.get_data(as_text=True))
    assert Dossier.get_by_id(dossier.id).state == RequestState.ENVOYEE
    return driver, browser, dossier


def test_an_uploaded_document_goes_to_the_store_and_only_its_owner_and_habilitated_staff_read_it(
        app, app_config, sent_request, make_driver, make_staff):
    driver, owner, dossier = sent_request
    identity = Document.get(Document.dossier == dossier, Document.kind == "identite")
    assert re.fullmatch(rf"dossiers/{dossier.id}/[0-9a-f]{{32}}\.pdf", identity.path)
    assert storage.read(identity.path) == PDF and identity.sha256 == storage.digest(PDF)
    assert in_local_folder(identity.path) == (app_config["STORAGE_BACKEND"] == "local")
    owners_url = f"/mes-demandes/{dossier.id}/documents/{identity.id}"
    staff_url = f"/admin/cqc_requests/document/{identity.id}"

    shown = owner.get(owners_url)
    assert shown.status_code == 200 and shown.mimetype == "application/pdf" and shown.data == PDF
    assert shown.headers["Content-Length"] == str(len(PDF))
    assert shown.headers["Content-Disposition"].endswith("''carte%20d%27identit%C3%A9.pdf")
    agent = logged_in(app, make_staff(procedures=["CQC"]), "/admin/connexion")
    seen = agent.get(staff_url)
    assert seen.status_code == 200 and seen.data == PDF and seen.headers["Cache-Control"] == "private, no-store"

    intruder = logged_in(app, make_driver(state="active"))
    assert intruder.get(owners_url).status_code == 404
    outsider = logged_in(app, make_staff(procedures=["TACHY_CONDUCTEUR"]), "/admin/connexion")
    assert outsider.get(staff_url).status_code == 404
    assert app.test_client().get(owners_url).status_code == 302  # a visitor is sent to the login page

    # The row still names the file, the store no longer has it: 404, not an error page.
    storage.delete(identity.path)
    assert owner.get(owners_url).status_code == 404 and agent.get(staff_url).status_code == 404


def test_cancelling_a_draft_erases_its_uploads_from_the_store(app, make_driver, monkeypatch):
    fast_pdfs(monkeypatch)
    driver = make_driver(state="active")
    record(make_centre(), driver)
    browser = logged_in(app, driver)
    browser.post("/mes-demandes/cqc")
    dossier = Dossier.select().order_by(Dossier.id.desc()).get()
    browser.post(f"/mes-demandes/{dossier.id}/etapes/identite", data={"identity_confirmed": "y", "action": "suivant"})
    browser.post(f"/mes-demandes/{dossier.id}/etapes/photo", data={"document": upload(JPEG, "photo.jpg"), "action": "suivant"},
                 content_type="multipart/form-data")
    (photo,) = Document.select().where(Document.dossier == dossier)
    assert storage.exists(photo.path)
    assert browser.post(f"/mes-demandes/{dossier.id}/annuler").status_code == 302
    assert not storage.exists(photo.path)


# --- Issued PDFs: an invoice, its duplicate, its e-mail ----------------------------------------------------------


class Inbox:
    """An aiosmtpd handler keeping the raw messages it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content)
        return "250 OK"

    def attachments(self, filename):
        """Return the content of every attachment received under this name."""
        return [part.get_content() for raw in self.messages
                for part in email.message_from_bytes(raw, policy=email.policy.default).iter_attachments()
                if part.get_filename() == filename]


@pytest.fixture
def smtp(app):
    """A real SMTP server the outbox job sends to; return its inbox."""
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    yield inbox
    controller.stop()


def test_an_issued_invoice_is_stored_served_to_its_holder_and_staff_and_mailed(app, app_config, make_driver, make_staff,
                                                                              smtp, monkeypatch):
    rendered = PDF + b"%facture " + secrets.token_bytes(64)
    monkeypatch.setattr(documents, "render_pdf", lambda *args, **kwargs: rendered)
    make_tariff()
    driver = make_driver(state="active")
    payment = pending_payment(driver)
    dossiers.settle_payment(notification(payment))
    invoice = Invoice.get(Invoice.payment == payment.id)
    assert storage.read(invoice.pdf_path) == rendered and invoice.pdf_sha256 == storage.digest(rendered)
    assert in_local_folder(invoice.pdf_path) == (app_config["STORAGE_BACKEND"] == "local")

    duplicate = logged_in(app, driver).get(f"/mes-factures/{invoice.id}/duplicata")
    assert duplicate.status_code == 200 and duplicate.data == rendered
    admin = logged_in(app, make_staff(role=StaffRole.LOCAL_ADMIN), "/admin/connexion")
    staff_copy = admin.get(f"/admin/invoices_admin/pdf/{invoice.id}?telecharger=1")
    assert staff_copy.status_code == 200 and staff_copy.data == rendered
    assert logged_in(app, make_driver(state="active")).get(f"/mes-factures/{invoice.id}/duplicata").status_code == 404

    assert outbox.dispatch()["sent"] >= 1
    assert smtp.attachments("FA-00000001.pdf") == [rendered]


# --- What only the bucket does: its checksum, kept private --------------------------------------------------------


@ON_S3
def test_each_object_carries_its_sha256_and_no_public_grant(app, app_config, s3):
    key = storage.store(PNG, "essais", ".png")
    head = s3.head_object(Bucket=app_config["S3_BUCKET"], Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha256_b64(PNG) and head["ContentLength"] == len(PNG)
    grants = s3.get_object_acl(Bucket=app_config["S3_BUCKET"], Key=key)["Grants"]
    assert all("URI" not in grant["Grantee"] for grant in grants)  # neither AllUsers nor AuthenticatedUsers


@ON_S3
def test_an_object_altered_at_rest_is_never_read_whole(app, app_config, caplog):
    key = storage.store(PDF, "essais", ".pdf")
    alter_at_rest(app_config["S3_BUCKET"], key)
    with pytest.raises(storage.CorruptedObject):
        storage.read(key)
    # Streamed, it stops before its last bytes: the browser never gets a complete file.
    response = storage.send(key, "application/pdf", "x.pdf")
    with pytest.raises(storage.CorruptedObject):
        b"".join(response.response)
    assert f"Objet S3 {key}" in caplog.text and "SHA-256" in caplog.text


@ON_S3
def test_an_altered_attachment_is_retried_then_given_up_never_mailed(app, app_config, smtp):
    key = storage.store(PDF, "factures", ".pdf")
    alter_at_rest(app_config["S3_BUCKET"], key)
    outbox.queue_email("anne@exemple.fr", "account_in_analysis", "Votre facture", attachments=[(key, "f.pdf", "application/pdf")],
                       user=type("U", (), {"first_name": "Anne", "last_name": "Martin"})())
    assert outbox.dispatch() == {"sent": 0, "kept": 0, "failed": 1}
    message = OutboxMessage.get()
    assert message.status == OutboxStatus.PENDING and "SHA-256" in message.last_error and smtp.messages == []


@ON_S3
def test_a_bucket_that_fails_is_an_error_never_a_missing_file(app):
    key = storage.store(PDF, "essais", ".pdf")
    app.extensions["storage"] = storage.S3Store(storage.backend().client, "compartiment-absent")
    for look in (storage.read, storage.delete):
        with pytest.raises(storage.StorageUnavailable, match="NoSuchBucket"):
            look(key)
    # A view answers 500 (the error page), not 404: the file is there, the bucket is not reachable.
    with pytest.raises(storage.StorageUnavailable):
        storage.send(key, "application/pdf", "x.pdf")


def test_an_unknown_backend_or_a_bucket_without_name_stops_the_app(database_url, tmp_path):
    with pytest.raises(ValueError, match="STORAGE_BACKEND=disque est inconnu"):
        create_app(make_config(database_url, tmp_path, STORAGE_BACKEND="disque"))
    with pytest.raises(ValueError, match="S3_BUCKET"):
        create_app(make_config(database_url, tmp_path, STORAGE_BACKEND="s3", S3_BUCKET=""))


# --- `flask storage copy-to-s3` --------------------------------------------------------------------------------


def copy(runner, *options):
    return runner.invoke(args=["storage", "copy-to-s3", *options])


@LOCAL_WITH_BUCKET
def test_copy_to_s3_copies_checks_and_skips_what_is_there(app, app_config, runner, s3):
    files = {storage.store(data, folder, suffix): data for data, folder, suffix in (
        (PDF, "dossiers/1", ".pdf"), (JPEG, "dossiers/1", ".jpg"), (PNG, "dossiers/2/reponse", ".png"),
        (PDF + b"facture", "factures", ".pdf"))}
    first = copy(runner)
    assert first.exit_code == 0, first.output
    assert "Copiés : 4\n" in first.output and "Déjà présents avec la même empreinte : 0\n" in first.output
    assert "Empreintes différentes : 0\n" in first.output
    for key, data in files.items():
        head = s3.head_object(Bucket=app_config["S3_BUCKET"], Key=key, ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == sha256_b64(data), key

    storage.store(PNG, "dossiers/3", ".png")  # written meanwhile, before the nodes switch to the bucket
    second = copy(runner)
    assert second.exit_code == 0, second.output
    assert "Copiés : 1\n" in second.output and "Déjà présents avec la même empreinte : 4\n" in second.output

    # Switched to the bucket, the app reads the same keys there.
    app.extensions["storage"] = storage.backend_for({**app.config, "STORAGE_BACKEND": "s3"})
    assert isinstance(storage.backend(), storage.S3Store)
    assert all(storage.read(key) == data for key, data in files.items())


@LOCAL_WITH_BUCKET
def test_copy_to_s3_reports_an_object_that_differs_and_replaces_it_only_when_asked(app, app_config, runner, s3):
    kept, replaced, rotten = (storage.store(data, "dossiers/7", ".pdf") for data in (PDF, PDF + b"2", PDF + b"3"))
    assert copy(runner).exit_code == 0
    s3.put_object(Bucket=app_config["S3_BUCKET"], Key=replaced, Body=b"%PDF-autre contenu")
    alter_at_rest(app_config["S3_BUCKET"], rotten)

    checked = copy(runner)
    assert checked.exit_code == 1
    assert "Copiés : 0\n" in checked.output and "Déjà présents avec la même empreinte : 1\n" in checked.output
    assert "Empreintes différentes : 2\n" in checked.output
    assert f"  {replaced} : l'objet du compartiment ne correspond pas au fichier local" in checked.output
    assert f"  {rotten} : l'objet du compartiment ne correspond pas au fichier local" in checked.output
    assert "relancez avec --remplacer" in checked.output
    assert s3.get_object(Bucket=app_config["S3_BUCKET"], Key=replaced)["Body"].read() == b"%PDF-autre contenu"

    repaired = copy(runner, "--remplacer")
    assert repaired.exit_code == 0, repaired.output
    assert "Copiés : 2\n" in repaired.output and "Empreintes différentes : 0\n" in repaired.output
    for key, data in ((kept, PDF), (replaced, PDF + b"2"), (rotten, PDF + b"3")):
        assert s3.get_object(Bucket=app_config["S3_BUCKET"], Key=key, ChecksumMode="ENABLED")["Body"].read() == data


@LOCAL_WITH_BUCKET
def test_copy_to_s3_says_what_is_missing(app, runner):
    assert "n'existe pas : rien à copier" in copy(runner).output  # nothing stored yet: no folder
    storage.store(PDF, "essais", ".pdf")
    app.config["S3_BUCKET"] = ""
    refused = copy(runner)
    assert refused.exit_code == 1 and "Le stockage S3 demande S3_BUCKET" in refused.output
    app.config["S3_BUCKET"] = "compartiment-absent"
    unreachable = copy(runner)
    assert unreachable.exit_code == 1 and "Le compartiment S3 « compartiment-absent » ne répond pas" in unreachable.output
