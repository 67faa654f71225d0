"""« Télécharger mes données » (RGPD, rights of access and portability): a ZIP of everything held about a person.

The request is queued (a DataExport row); the data_exports job makes the ZIP (a readable summary, a JSON export of
every row about the person, their documents), stores it, and e-mails a link valid 48 hours that opens it to its
owner only. Retention erases the ZIP once the link has expired.
"""
import datetime as dt
import decimal
import hashlib
import io
import json
import logging
import mimetypes
import secrets
import zipfile

from flask import render_template
from peewee import ForeignKeyField

from models import (
    AuditLog, Card, CardEvent, CardKind, Certificate, Consent, DataExport, Document, Dossier, DossierEvent, Driver,
    Anomaly, Invoice, InvoiceLine, Notification, OutboxMessage, Payment, Procedure, Training, User, db,
)
from models import clock, deadlines
from services import audit, outbox, procedures, storage

log = logging.getLogger("hubpro.exports")

#: Requests a run of the job prepares at most, and the tries before a request is given up.
PER_RUN = 20
MAX_ATTEMPTS = 3
#: Columns never exported: secrets, the storage's own keys (the files are in the ZIP), the audit chain's hashes.
HIDDEN = {"password_hash", "session_key", "token_hash", "path", "pdf_path", "summary_path", "prev_hash", "row_hash",
          "lease_until"}
#: The name of the ZIP the person downloads.
FILENAME = "mes-donnees-hub-pro-transport.zip"


def _digest(raw):
    return hashlib.sha256(raw.encode()).hexdigest()


def _value(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def as_dict(row):
    """Return a row's columns as JSON values (a reference to another row as its id), secrets left out."""
    return {
        (field.column_name if isinstance(field, ForeignKeyField) else field.name): _value(row.__data__.get(field.name))
        for field in type(row)._meta.sorted_fields if field.name not in HIDDEN
    }


def _grouped(query, key):
    groups = {}
    for row in query:
        groups.setdefault(getattr(row, key), []).append(row)
    return groups


def _suffix(name, content_type):
    ending = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return f".{ending}" if ending.isalnum() and len(ending) <= 5 else (mimetypes.guess_extension(content_type) or "")


def _files(user, attachments):
    """Return the person's own files, each with its data row, history, anomalies and documents (added to the ZIP)."""
    files = list(Dossier.select(Dossier, Procedure).join(Procedure).where(Dossier.user == user.id).order_by(Dossier.id))
    ids = [dossier.id for dossier in files]
    history = _grouped(DossierEvent.select().where(DossierEvent.dossier.in_(ids)).order_by(DossierEvent.id), "dossier_id")
    anomalies = _grouped(Anomaly.select().where(Anomaly.dossier.in_(ids)).order_by(Anomaly.id), "dossier_id")
    documents = _grouped(Document.select().where(Document.dossier.in_(ids)).order_by(Document.id), "dossier_id")
    data = {}
    for code in {dossier.procedure.code for dossier in files}:
        declaration = procedures.REGISTRY.get(code)
        if declaration is not None:
            model = declaration.data_model
            data.update({row.dossier_id: row for row in model.select().where(model.dossier.in_(ids))})
    exported = []
    for dossier in files:
        docs = []
        for document in documents.get(dossier.id, []):
            entry = {**as_dict(document), "label": document.label}
            if document.purged_at is None and document.path:
                entry["file_in_zip"] = (f"documents/demande-{dossier.id}-{document.id}-{document.kind}"
                                        f"{_suffix(document.original_name, document.content_type)}")
                attachments.append((entry["file_in_zip"], document.path))
            docs.append(entry)
        exported.append({
            **as_dict(dossier), "procedure": dossier.procedure.name, "state_label": dossier.state_label,
            "data": as_dict(data[dossier.id]) if dossier.id in data else None,
            "history": [as_dict(step) for step in history.get(dossier.id, [])],
            "anomalies": [as_dict(anomaly) for anomaly in anomalies.get(dossier.id, [])],
            "documents": docs,
        })
    return exported


def _cards(user, driver):
    """Return the person's cards (a CQC, the tachograph cards companies ordered for them) with their history."""
    mine = Card.user == user.id
    if driver is not None:
        mine |= ((Card.kind == CardKind.TACHY_CONDUCTEUR) & (Card.licence_number == driver.licence_number)
                 & (Card.birth_date == driver.birth_date))
    cards = list(Card.select().where(mine).order_by(Card.id))
    history = _grouped(CardEvent.select().where(CardEvent.card.in_([c.id for c in cards])).order_by(CardEvent.id),
                       "card_id")
    return [{**as_dict(card), "kind_label": card.kind_label, "state_label": card.state_label,
             "history": [as_dict(step) for step in history.get(card.id, [])]} for card in cards]


def _with_file(rows, folder, name, path_of, attachments):
    exported = []
    for row in rows:
        entry = as_dict(row)
        path = path_of(row)
        if path:
            entry["file_in_zip"] = f"{folder}/{name(row)}.pdf"
            attachments.append((entry["file_in_zip"], path))
        exported.append(entry)
    return exported


def collect(user, attachments):
    """Return everything held about a person, as JSON values; the stored files it names are added to attachments."""
    driver = Driver.get_or_none(Driver.user == user.id)
    files = _files(user, attachments)
    invoices = list(Invoice.select().where(Invoice.user == user.id).order_by(Invoice.id))
    lines = _grouped(InvoiceLine.select().where(InvoiceLine.invoice.in_([i.id for i in invoices])), "invoice_id")
    addresses = [address for address in (user.email, driver.mobile if driver else "") if address]
    about = [user.email] + [f"dossier {file['id']}" for file in files]
    organisation = user.organisation
    return {
        "export": {"platform": "Hub Pro Transport", "generated_at": _value(clock.now()), "account_id": user.id},
        "account": {**as_dict(user), "role_label": user.role_label},
        "organisation": ({"name": organisation.name, "siret": organisation.siret, "kind": organisation.kind_label}
                         if organisation else None),
        "identity": as_dict(driver) if driver else None,
        "consents": [as_dict(c) for c in Consent.select().where(Consent.user == user.id).order_by(Consent.id)],
        "files": files,
        "trainings": _with_file(Training.select().where(Training.user == user.id).order_by(Training.id), "formations",
                                lambda t: f"recapitulatif-{t.id}", lambda t: t.summary_path, attachments),
        "certificates": _with_file(Certificate.select().where(Certificate.user == user.id).order_by(Certificate.id),
                                   "certificats", lambda c: f"certificat-{c.id}", lambda c: c.pdf_path, attachments),
        "cards": _cards(user, driver),
        "payments": [as_dict(p) for p in Payment.select().where(Payment.user == user.id).order_by(Payment.id)],
        "invoices": [{**entry, "lines": [as_dict(line) for line in lines.get(entry["id"], [])]} for entry in
                     _with_file(invoices, "factures", lambda i: i.display_number, lambda i: i.pdf_path, attachments)],
        "notifications": [as_dict(n) for n in
                          Notification.select().where(Notification.user == user.id).order_by(Notification.id)],
        "messages": [as_dict(m) for m in
                     OutboxMessage.select().where(OutboxMessage.recipient.in_(addresses)).order_by(OutboxMessage.id)],
        "audit": [as_dict(line) for line in AuditLog.select().where(
            (AuditLog.user == user.id) | AuditLog.target.in_(about)).order_by(AuditLog.id)],
    }


def readable(value):
    """Return a JSON value as the summary shows it: dates and times in French (Paris time), yes/no, the rest as is."""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-":
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        if len(value) == 10:
            return moment.strftime("%d/%m/%Y")
        return clock.local(moment).strftime("%d/%m/%Y à %H:%M")
    return value


def build_zip(user):
    """Return the bytes of a person's ZIP: resume.html (readable), donnees.json (everything), their documents."""
    attachments = []
    data = collect(user, attachments)
    buffer = io.BytesIO()
    missing = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in attachments:
            try:
                archive.writestr(name, storage.read(path))
            except (OSError, ValueError):
                log.warning("Export %s : fichier %s illisible, non joint", user.id, path)
                missing.append(name)
        data["export"]["missing_files"] = missing
        archive.writestr("donnees.json", json.dumps(data, ensure_ascii=False, indent=2))
        archive.writestr("resume.html", render_template("public/home/data_summary.html", data=data, user=user,
                                                        generated_at=clock.now(), readable=readable))
    return buffer.getvalue()


# --- The request, the job, the download ------------------------------------------------------------------------------


def request_export(user):
    """Queue an export of a person's data; return (the request, whether it is new): one waits at a time."""
    waiting = DataExport.get_or_none(DataExport.user == user.id, DataExport.prepared_at.is_null(),
                                     DataExport.failed_at.is_null())
    if waiting is not None:
        return waiting, False
    with db.atomic():
        export = DataExport.create(user=user.id)
        audit.record("Export des données personnelles demandé", user.email, user=user)
    return export, True


def prepare_pending():
    """Make the ZIPs of the queued requests, store them and e-mail their links; return how many were sent."""
    due = (DataExport.select(DataExport, User).join(User)
           .where(DataExport.prepared_at.is_null(), DataExport.failed_at.is_null())
           .order_by(DataExport.requested_at).limit(PER_RUN))
    return sum(1 for export in list(due) if _prepare(export))


def _prepare(export):
    user = export.user
    if user.deleted_at is not None:
        DataExport.update(failed_at=clock.now()).where(DataExport.id == export.id).execute()
        return False
    try:
        data = build_zip(user)
    except Exception:  # any failure: counted, retried at the next run, given up after MAX_ATTEMPTS
        log.exception("Export des données du compte %s non préparé", user.id)
        gave_up = export.attempts + 1 >= MAX_ATTEMPTS
        DataExport.update(attempts=DataExport.attempts + 1, failed_at=clock.now() if gave_up else None).where(
            DataExport.id == export.id).execute()
        return False
    path = storage.store(data, "exports", ".zip")
    raw = secrets.token_urlsafe(32)
    now = clock.now()
    expires_at = now + deadlines.DATA_EXPORT_VALIDITY
    with db.atomic():
        done = DataExport.update(prepared_at=now, path=path, size=len(data), token_hash=_digest(raw),
                                 expires_at=expires_at).where(DataExport.id == export.id,
                                                              DataExport.prepared_at.is_null()).execute()
        if done:
            outbox.queue_email(user.email, "data_export_ready", "Vos données Hub Pro Transport sont prêtes", user=user,
                               link=outbox.public_url("home.data_export", token=raw), expires_at=expires_at,
                               hours=int(deadlines.DATA_EXPORT_VALIDITY.total_seconds() // 3600))
            audit.record("Export des données personnelles préparé", user.email, f"{len(data)} octets")
    if not done:  # another scheduler prepared it meanwhile
        storage.delete(path)
    return bool(done)


def for_download(raw, user):
    """Return the export this link names when it is this account's, else None (unknown, or another person's)."""
    export = DataExport.get_or_none(DataExport.token_hash == _digest(raw or ""))
    return export if export is not None and export.user_id == user.id else None


def downloaded(export, user):
    """Record that the owner downloaded the ZIP."""
    with db.atomic():
        DataExport.update(downloaded_at=clock.now()).where(DataExport.id == export.id).execute()
        audit.record("Export des données personnelles téléchargé", user.email, user=user)
