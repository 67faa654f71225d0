"""Retention (DESIGN §5, RGPD): each rule erases what its time has come for, set by set, idempotently.

The times are named in models/deadlines.py. Each rule reads a batch through a partial index of what is still kept,
erases the stored files first and then marks (or deletes) the rows with one statement per table: a run stopped
halfway is finished by the next one, and a second run finds nothing to do. A run that erased something writes one
audit line with its counts. Invoices (10 years) are purged by the invoices job (services/invoices.purge_expired).
"""
import logging

from peewee import SQL, fn

from models import (
    ADMIN_ROLES, Anomaly, Card, CardEvent, CardState, Certificate, CompanyDriver, DataExport, Document, DocumentKind,
    Dossier, DossierEvent, Invoice, Organisation, OutboxMessage, OutboxStatus, Payment, Procedure, ProcedureCode,
    RequestState, Training, User, db,
)
from models import clock, deadlines
from services import audit, audit_chain, procedures, storage

log = logging.getLogger("hubpro.retention")

#: Rows read, erased and marked together.
BATCH = 500
#: Rows a rule handles at most per run: the hourly runs drain a backlog (120,000 rows a day per rule) without holding
#: the scheduler for long. At 1 M drivers, three rules at 20,000 took 18.8 s, at 8,000 about 10 s; at 5,000, 6 s.
RUN_LIMIT = 5_000

#: What a card's file loses once the card is delivered: the documents proving or showing the holder's identity
#: (the card keeps what it prints; a Kbis is the company's, not a person's).
IDENTITY_DOCUMENTS = (
    DocumentKind.PHOTO, DocumentKind.SIGNATURE, DocumentKind.IDENTITY, DocumentKind.LICENCE_FRONT,
    DocumentKind.LICENCE_BACK, DocumentKind.RESIDENCE, DocumentKind.REPRESENTATIVE_ID, DocumentKind.THEFT_DECLARATION,
)

#: Each rule's name in the audit line and the log, in the order the rules run.
LABELS = {
    "card_documents": "pièces d'identité, photos et signatures effacées (carte livrée depuis 6 mois)",
    "cancelled_files": "demandes annulées effacées",
    "refused_files": "demandes refusées depuis 1 an effacées",
    "message_texts": "textes des messages envoyés depuis 1 an effacés",
    "unactivated_accounts": "comptes jamais activés depuis 6 mois supprimés",
    "expired_exports": "exports de données expirés effacés",
    "audit_lines": "lignes du journal d'audit de plus de 5 ans effacées",
}


def _batches(query, order):
    """Yield batches of a query's rows until it is empty or the run's limit is reached (each batch leaves the query)."""
    handled = 0
    while handled < RUN_LIMIT:
        batch = list(query.order_by(order).limit(min(BATCH, RUN_LIMIT - handled)))
        if not batch:
            return
        handled += len(batch)
        yield batch


def _delete_files(paths):
    for path in paths:
        if path:
            storage.delete(path)


# --- Documents and files ------------------------------------------------------------------------------------------


def erase_documents(query):
    """Erase the stored files of a query's documents, then mark the rows purged; return how many."""
    erased = 0
    for batch in _batches(query.where(Document.purged_at.is_null()), Document.id):
        _delete_files(document.path for document in batch)
        Document.update(purged_at=clock.now(), path="", original_name="").where(
            Document.id.in_([document.id for document in batch])).execute()
        erased += len(batch)
    return erased


def purge_card_documents(now):
    """Erase the identity documents, photos and signatures of the files whose card was delivered 6 months ago."""
    limit = deadlines.months_before(now, deadlines.CARD_DOCUMENTS_KEPT_MONTHS)
    delivered = (CardEvent.select(SQL("1")).join(Card, on=(CardEvent.card == Card.id))
                 .where(Card.dossier == Document.dossier, CardEvent.to_state == CardState.LIVREE, CardEvent.at < limit))
    return erase_documents(Document.select(Document.id, Document.path)
                           .where(Document.kind.in_(IDENTITY_DOCUMENTS), fn.EXISTS(delivered)))


def erased_values(declaration):
    """Return the values a file's data row takes once erased: every column's default but what links the file."""
    model = declaration.data_model
    return {
        name: (column.default() if callable(column.default) else column.default)
        for name, column in model._meta.fields.items()
        if name not in (*declaration.kept_on_cancel, model._meta.primary_key.name)
    }


def erase_files(dossiers):
    """Erase files' documents, the data typed, what staff noted of it and their history's comments; mark them erased.

    The files, their steps (who, when, which state), payments and cards stay: invoices and the card register link them.
    """
    ids = [dossier.id for dossier in dossiers]
    erase_documents(Document.select(Document.id, Document.path).where(Document.dossier.in_(ids)))
    by_code = {}
    for dossier in dossiers:
        by_code.setdefault(dossier.procedure.code, []).append(dossier.id)
    with db.atomic():
        for code, same in by_code.items():
            declaration = procedures.REGISTRY.get(code)
            if declaration is not None:
                model = declaration.data_model
                model.update(**erased_values(declaration)).where(model.dossier.in_(same)).execute()
        Anomaly.update(old_value="", new_value=None, reason="").where(Anomaly.dossier.in_(ids)).execute()
        DossierEvent.update(comment="").where(DossierEvent.dossier.in_(ids)).execute()
        Dossier.update(erased_at=clock.now()).where(Dossier.id.in_(ids)).execute()


def _erase_files_in(state, limit):
    due = (Dossier.select(Dossier.id, Procedure.code).join(Procedure)
           .where(Dossier.state == state, Dossier.erased_at.is_null(), Dossier.updated_at <= limit))
    erased = 0
    for batch in _batches(due, Dossier.id):
        erase_files(batch)
        erased += len(batch)
    return erased


def erase_cancelled_files(now):
    """Erase the cancelled files (their documents and the data typed), at the first run after the cancellation."""
    return _erase_files_in(RequestState.ANNULEE, now - deadlines.CANCELLED_FILE_KEPT)


def erase_refused_files(now):
    """Erase the files refused a year ago (their documents and the data typed)."""
    return _erase_files_in(RequestState.REFUSEE, deadlines.months_before(now, deadlines.REFUSED_FILE_KEPT_MONTHS))


# --- Messages ----------------------------------------------------------------------------------------------------------


def erase_messages(query):
    """Erase the text and attachments of a query's messages (who, when and the subject stay); return how many."""
    erased = 0
    for batch in _batches(query.where(OutboxMessage.erased_at.is_null()), OutboxMessage.id):
        OutboxMessage.update(body_text="", body_html="", attachments="[]", last_error="", erased_at=clock.now()).where(
            OutboxMessage.id.in_([message.id for message in batch])).execute()
        erased += len(batch)
    return erased


def erase_message_texts(now):
    """Erase the text of the messages sent (or given up) a year ago."""
    limit = deadlines.months_before(now, deadlines.MESSAGE_TEXT_KEPT_MONTHS)
    sent = OutboxMessage.select(OutboxMessage.id).where(OutboxMessage.sent_at < limit)
    given_up = OutboxMessage.select(OutboxMessage.id).where(OutboxMessage.status == OutboxStatus.FAILED,
                                                            OutboxMessage.created_at < limit)
    return erase_messages(sent) + erase_messages(given_up)


# --- Accounts ----------------------------------------------------------------------------------------------------------


def stored_files_of(user_ids):
    """Return the stored files that belong to these accounts: their files' documents, certificates, training
    summaries and data exports."""
    paths = [d.path for d in Document.select(Document.path).join(Dossier)
             .where(Dossier.user.in_(user_ids), Document.purged_at.is_null())]
    paths += [c.pdf_path for c in Certificate.select(Certificate.pdf_path).where(Certificate.user.in_(user_ids))]
    paths += [t.summary_path for t in Training.select(Training.summary_path).where(Training.user.in_(user_ids))]
    paths += [e.path for e in DataExport.select(DataExport.path).where(DataExport.user.in_(user_ids))]
    return [path for path in paths if path]


def delete_unactivated_accounts(now):
    """Delete the accounts never activated 6 months after their creation, and the organisations left empty by them.

    Only accounts that never did anything are deleted: no file but the account analysis, no card, payment or
    invoice. An organisation's administrator goes only with an organisation left without anyone else in office.
    """
    limit = deadlines.months_before(now, deadlines.UNACTIVATED_ACCOUNT_KEPT_MONTHS)
    analysis = Procedure.by_code(ProcedureCode.COMPTE_PARTICULIER).id
    other = User.alias()
    in_office = other.select(SQL("1")).where(other.organisation == User.organisation, other.id != User.id,
                                             other.deleted_at.is_null())
    due = User.select(User.id, User.organisation).where(
        User.password_hash.is_null(), User.deleted_at.is_null(), User.created_at < limit, User.last_login_at.is_null(),
        ~fn.EXISTS(Dossier.select(SQL("1")).where(Dossier.user == User.id, Dossier.procedure != analysis)),
        ~fn.EXISTS(Card.select(SQL("1")).where(Card.user == User.id)),
        ~fn.EXISTS(Payment.select(SQL("1")).where(Payment.user == User.id)),
        ~fn.EXISTS(Invoice.select(SQL("1")).where(Invoice.user == User.id)),
        User.role.not_in(ADMIN_ROLES) | fn.EXISTS(in_office.where(other.role.in_(ADMIN_ROLES))) | ~fn.EXISTS(in_office),
    )
    deleted = 0
    for batch in _batches(due, User.id):
        ids = [user.id for user in batch]
        _delete_files(stored_files_of(ids))
        with db.atomic():
            # A centre's training stays the centre's: it waits, unattached, for an account of that driver.
            Training.update(user=None, summary_path=None).where(Training.user.in_(ids)).execute()
            User.delete().where(User.id.in_(ids)).execute()
            _delete_empty_organisations({user.organisation_id for user in batch} - {None})
        deleted += len(batch)
    return deleted


def _delete_empty_organisations(ids):
    """Delete these organisations when nothing is left in them (no account, file, card, invoice, training)."""
    if not ids:
        return
    empty = Organisation.select(Organisation.id).where(
        Organisation.id.in_(list(ids)),
        ~fn.EXISTS(User.select(SQL("1")).where(User.organisation == Organisation.id)),
        ~fn.EXISTS(Dossier.select(SQL("1")).where(Dossier.organisation == Organisation.id)),
        ~fn.EXISTS(Card.select(SQL("1")).where(Card.organisation == Organisation.id)),
        ~fn.EXISTS(Invoice.select(SQL("1")).where(Invoice.organisation == Organisation.id)),
        ~fn.EXISTS(Training.select(SQL("1")).where(Training.centre == Organisation.id)),
        ~fn.EXISTS(CompanyDriver.select(SQL("1")).where(CompanyDriver.organisation == Organisation.id)),
    )
    Organisation.delete().where(Organisation.id.in_([row.id for row in empty])).execute()


# --- Exports and the audit log -------------------------------------------------------------------------------------


def erase_expired_exports(now):
    """Erase the ZIPs of data exports whose link expired (the request stays: its link then says « expiré »)."""
    due = DataExport.select(DataExport.id, DataExport.path).where(DataExport.path.is_null(False),
                                                                   DataExport.expires_at <= now)
    erased = 0
    for batch in _batches(due, DataExport.expires_at):
        _delete_files(export.path for export in batch)
        DataExport.update(path=None).where(DataExport.id.in_([export.id for export in batch])).execute()
        erased += len(batch)
    return erased


def prune_audit_log(now):
    """Erase the audit lines older than 5 years, from the chain's start (its anchor moves)."""
    limit = deadlines.months_before(now, 12 * deadlines.AUDIT_LOG_KEPT_YEARS)
    return audit_chain.prune(limit)


RULES = {
    "card_documents": purge_card_documents,
    "cancelled_files": erase_cancelled_files,
    "refused_files": erase_refused_files,
    "message_texts": erase_message_texts,
    "unactivated_accounts": delete_unactivated_accounts,
    "expired_exports": erase_expired_exports,
    "audit_lines": prune_audit_log,
}


def run():
    """Apply every retention rule; return {rule: rows erased}, written to the audit log when anything was."""
    now = clock.now()
    counts = {name: rule(now) for name, rule in RULES.items()}
    done = "; ".join(f"{LABELS[name]} : {count}" for name, count in counts.items() if count)
    if done:
        audit.record("Conservation des données : effacements", "conservation", done)
    log.info("Conservation des données : %s", done or "rien à effacer")
    return counts
