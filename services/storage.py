"""Files kept by the platform (uploads, issued PDFs): outside the web root, under random names."""
import hashlib
import mimetypes
import os
import re
import secrets
import unicodedata

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
#: The name endings of each accepted type; the first is given to a name that has none.
EXTENSIONS = {"application/pdf": (".pdf",), "image/jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"), "image/png": (".png",)}
#: Other words browsers use for the accepted types, and the words that say nothing of a file's type.
TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png",
                "application/x-pdf": "application/pdf"}
UNTYPED = ("", "application/octet-stream", "binary/octet-stream")
#: Python's own table of name endings (not the server's /etc/mime.types): every server reads a name the same way.
KNOWN_TYPES = mimetypes.MimeTypes()
#: The longest uploaded file name kept; characters never kept in one (path separators, those Windows refuses).
NAME_SIZE = 120
NAME_UNSAFE = re.compile(r'[<>:"|?*]')


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


def declared_type(file_storage):
    """Return (type, as declared) of what an upload's name ending, else the browser, says it is; or (None, "")."""
    ending = os.path.splitext(clean_name(file_storage.filename))[1].lower()
    if ending:
        named = next((kind for kind, endings in EXTENSIONS.items() if ending in endings), None)
        named = named or KNOWN_TYPES.guess_type("file" + ending)[0]
        if named not in (None, *UNTYPED):
            return named, ending
    said = (file_storage.mimetype or "").lower()
    said = TYPE_ALIASES.get(said, said)
    return (None, "") if said in UNTYPED else (said, said)


def check_upload(file_storage, accepts=ANY_DOCUMENT):
    """Return (data, content type, suffix) of an upload of one of these types, or raise UploadRefused saying why.

    The type is read from the content; a name or a browser's word saying another type is refused.
    """
    if file_storage is None or not file_storage.filename:
        raise UploadRefused("Choisissez un fichier.")
    data = file_storage.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadRefused("Le fichier dépasse 5 Mo : réduisez sa taille (par exemple en le numérisant en 150 dpi).")
    if not data:
        raise UploadRefused("Le fichier est vide.")
    kind = sniff(data)
    if kind is None or kind[0] not in accepts:
        _refused("format non accepté", file_storage, len(data))
        raise UploadRefused(f"Format non accepté : seuls les fichiers {_names(accepts, 'et')} sont acceptés.")
    declared, as_declared = declared_type(file_storage)
    if declared is not None and declared != kind[0]:
        _refused(f"annoncé {declared}, contenu {kind[0]}", file_storage, len(data))
        raise UploadRefused(
            f"Le type annoncé pour ce fichier ({as_declared}) ne correspond pas à son contenu ({FORMATS[kind[0]][0]}) : "
            "enregistrez-le dans son vrai format, puis versez-le de nouveau."
        )
    return data, kind[0], kind[1]


def _refused(reason, file_storage, size):
    current_app.logger.warning("Fichier refusé (%s) : « %s », %d octets", reason, clean_name(file_storage.filename), size)


def clean_name(name, suffix=""):
    """Return an uploaded file's name fit to store and to send back: its last path part without control, invisible
    or unsafe characters, at most NAME_SIZE characters, ending with ``suffix`` (its content's) when its own ending
    is not one of that type's."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    # A control character (a line break) parts words; an invisible one (a direction mark) is dropped.
    name = "".join(" " if unicodedata.category(c) == "Cc" else c for c in name)
    name = "".join(c for c in name if not unicodedata.category(c).startswith("C"))
    name = " ".join(NAME_UNSAFE.sub("_", name).split()).lstrip(". ")
    stem, ending = os.path.splitext(name)
    if len(ending) > 16:  # not an ending: a dot in a long name
        stem, ending = name, ""
    if suffix and ending.lower() not in next((e for e in EXTENSIONS.values() if suffix in e), (suffix,)):
        stem, ending = name, suffix
    if not stem and not ending:
        return ""
    return (stem[: NAME_SIZE - len(ending)].rstrip() or "document") + ending


def digest(data):
    return hashlib.sha256(data).hexdigest()


def send(relative, content_type, filename, *, download=False):
    """Return a stored file as a response, inline (viewed in the browser) or as an attachment, never cached."""
    try:
        data = read(relative)
    except (FileNotFoundError, ValueError):
        abort(404)
    disposition = "attachment" if download else "inline"
    # A name stored before uploads were cleaned may hold a line break, which no header may carry.
    filename = clean_name(filename) or "document"
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    response = Response(data, mimetype=content_type)
    response.headers["Content-Disposition"] = f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def send_pdf(relative, filename, *, download=False):
    """Return a stored PDF, inline or as a download."""
    return send(relative, "application/pdf", filename, download=download)
