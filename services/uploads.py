"""The documents a holder uploads to a file: the current one of each kind, a new upload, the erasure."""
from models import Document, Dossier, RequestState, clock, db
from services import storage


def current_document(dossier, kind):
    """Return the file's current document of this kind (the newest not replaced), or None."""
    return (
        Document.select()
        .where(Document.dossier == dossier, Document.kind == kind, Document.replaced_at.is_null())
        .order_by(Document.id.desc())
        .first()
    )


def current_of(documents, kind):
    """Return, among a file's documents already read, the current one of this kind (as current_document does)."""
    current = [d for d in documents if d.kind == kind and d.replaced_at is None]
    return max(current, key=lambda d: d.id) if current else None


def save_document(dossier, kind, file_storage, accepts=storage.ANY_DOCUMENT):
    """Store an upload (type checked on content against `accepts`) as the file's current document of that kind.

    A draft's previous document of the kind is erased; a submitted file keeps it, so staff see what changed.
    """
    data, content_type, suffix = storage.check_upload(file_storage, accepts)
    with db.atomic():
        previous = current_document(dossier, kind)
        if previous is not None:
            if dossier.state == RequestState.BROUILLON:
                storage.delete(previous.path)
                previous.delete_instance()
            else:
                Document.update(replaced_at=clock.now()).where(Document.id == previous.id).execute()
        return Document.create(
            dossier=dossier, kind=kind, path=storage.store(data, f"dossiers/{dossier.id}", suffix),
            original_name=storage.clean_name(file_storage.filename, suffix), content_type=content_type, size=len(data),
            sha256=storage.digest(data),
        )


def erase(dossier):
    """Erase every document of a file, stored bytes included (a cancelled file keeps nothing)."""
    for document in dossier.documents:
        storage.delete(document.path)
    Document.delete().where(Document.dossier == dossier).execute()


def touch(dossier):
    """Record that the holder worked on the file (an untouched draft is erased after a warning)."""
    Dossier.update(updated_at=clock.now(), draft_warned_at=None).where(Dossier.id == dossier.id).execute()
