"""Files kept by the platform (uploads, issued PDFs): outside the web root, under random names."""
import hashlib
import os
import secrets

from urllib.parse import quote

from flask import Response, abort, current_app

from services.errors import UploadRefused

#: Accepted upload types, recognised by their first bytes (never by the name or the browser's word).
SIGNATURES = {
    b"%PDF-": ("application/pdf", ".pdf"),
    b"\xff\xd8\xff": ("image/jpeg", ".jpg"),
    b"\x89PNG\r\n\x1a\n": ("image/png", ".png"),
}
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
#: How people name each accepted type, and the file endings a browser may offer for it.
FORMATS = {"application/pdf": ("PDF", ".pdf"), "image/jpeg": ("JPEG", ".jpg,.jpeg"), "image/png": ("PNG", ".png")}
IMAGES = ("image/jpeg", "image/png")
#: What a document may be unless its procedure says otherwise.
ANY_DOCUMENT = ("application/pdf", *IMAGES)


def _names(types, last_word):
    names = [FORMATS[t][0] for t in types]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} {last_word} {names[-1]}"


def formats_hint(types=ANY_DOCUMENT):
    """Say which formats an upload accepts (« Formats acceptés : PDF, JPEG ou PNG – 5 Mo maximum. »)."""
    return f"Formats acceptés : {_names(types, 'ou')} – 5 Mo maximum."


def accept_attribute(types=ANY_DOCUMENT):
    """Return the value of a file input's accept attribute for these types."""
    return ",".join([FORMATS[t][1] for t in types] + list(types))


def _root():
    return current_app.config["STORAGE_DIR"]


def full_path(relative):
    """Return the absolute path of a stored file, refusing anything outside the storage folder."""
    root = os.path.realpath(_root())
    path = os.path.realpath(os.path.join(root, relative))
    if not path.startswith(root + os.sep):
        raise ValueError("chemin hors du stockage")
    return path


def store(data, folder, suffix):
    """Write bytes under a random name in a folder of the storage; return the relative path."""
    relative = os.path.join(folder, secrets.token_hex(16) + suffix)
    path = full_path(relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return relative


def read(relative):
    with open(full_path(relative), "rb") as handle:
        return handle.read()


def delete(relative):
    """Erase a stored file (a cancelled request's documents)."""
    try:
        os.remove(full_path(relative))
    except FileNotFoundError:
        pass


def sniff(data):
    """Return (content type, suffix) of accepted data, or None."""
    for magic, kind in SIGNATURES.items():
        if data.startswith(magic):
            return kind
    return None


def check_upload(file_storage, accepts=ANY_DOCUMENT):
    """Return (data, content type, suffix) of an upload of one of these types, or raise UploadRefused saying why."""
    if file_storage is None or not file_storage.filename:
        raise UploadRefused("Choisissez un fichier.")
    data = file_storage.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRefused("Le fichier dépasse 5 Mo : réduisez sa taille (par exemple en le numérisant en 150 dpi).")
    if not data:
        raise UploadRefused("Le fichier est vide.")
    kind = sniff(data)
    if kind is None or kind[0] not in accepts:
        raise UploadRefused(f"Format non accepté : seuls les fichiers {_names(accepts, 'et')} sont acceptés.")
    return data, kind[0], kind[1]


def digest(data):
    return hashlib.sha256(data).hexdigest()


def send(relative, content_type, filename, *, download=False):
    """Return a stored file as a response, inline (viewed in the browser) or as an attachment, never cached."""
    try:
        data = read(relative)
    except (FileNotFoundError, ValueError):
        abort(404)
    disposition = "attachment" if download else "inline"
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    response = Response(data, mimetype=content_type)
    response.headers["Content-Disposition"] = f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def send_pdf(relative, filename, *, download=False):
    """Return a stored PDF, inline or as a download."""
    return send(relative, "application/pdf", filename, download=download)
