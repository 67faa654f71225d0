"""Files kept by the platform (uploads, issued PDFs): outside the web root, under random names, in the instance
folder (STORAGE_BACKEND=local) or in an S3 bucket shared by every node (STORAGE_BACKEND=s3), never at a public URL."""
import base64
import hashlib
import logging
import mimetypes
import os
import posixpath
import re
import secrets
import unicodedata
from contextlib import closing, contextmanager
from urllib.parse import quote

import boto3
import click
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, FlexibleChecksumError
from flask import Response, abort, current_app, request
from flask.cli import AppGroup
from werkzeug.wsgi import wrap_file

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


#: Bytes read at a time when a stored file is streamed, hashed or copied.
CHUNK_SIZE = 64 * 1024

log = logging.getLogger("hubpro.storage")


class CorruptedObject(ValueError, OSError):
    """A stored object whose content no longer matches the SHA-256 kept with it.

    A ValueError for the views, which answer as for a key that is no file of the storage; an OSError for the jobs,
    which retry, then give up on, what they could not read (the outbox's attachments)."""


class StorageUnavailable(OSError):
    """The bucket did not answer, or refused (credentials, permissions): what a failing disk is to a folder."""


def checked_key(key):
    """Return a stored file's key (« folder/name », as store() makes them), refusing one that could leave the storage."""
    if not key or "\\" in key or any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError("chemin hors du stockage")
    return key


class LocalStore:
    """Files in a folder of this machine (STORAGE_DIR): enough for one node."""

    def __init__(self, root):
        self.root = os.path.realpath(root)

    def path(self, key):
        """Return the absolute path of a key, refusing anything outside the folder (through a link too)."""
        path = os.path.realpath(os.path.join(self.root, checked_key(key)))
        if not path.startswith(self.root + os.sep):
            raise ValueError("chemin hors du stockage")
        return path

    def save(self, key, data):
        """Write bytes under a key."""
        path = self.path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)

    def open(self, key):
        """Return (binary stream, size in bytes) of a stored file; FileNotFoundError when there is none."""
        handle = open(self.path(key), "rb")
        return handle, os.fstat(handle.fileno()).st_size

    def read(self, key):
        """Return a stored file's bytes."""
        with open(self.path(key), "rb") as handle:
            return handle.read()

    def delete(self, key):
        """Erase a stored file; erasing one already gone is not an error."""
        try:
            os.remove(self.path(key))
        except FileNotFoundError:
            pass

    def exists(self, key):
        """Tell whether a file is stored under a key."""
        return os.path.isfile(self.path(key))

    def keys(self):
        """Yield the key of every stored file, folder by folder in name order."""
        for folder, subfolders, names in os.walk(self.root):
            subfolders.sort()
            for name in sorted(names):
                yield os.path.relpath(os.path.join(folder, name), self.root).replace(os.sep, "/")


class S3Store:
    """Objects in a private bucket of AWS S3 or of any server speaking its API: the app alone reads them and streams
    each to whoever its views allow (no public or presigned URL)."""

    def __init__(self, client, bucket):
        self.client, self.bucket = client, bucket

    @classmethod
    def from_config(cls, config):
        """Connect to the bucket the S3_* settings name; without keys boto3 looks for its own (an instance role)."""
        if not config["S3_BUCKET"]:
            raise ValueError("Le stockage S3 demande S3_BUCKET (le nom du compartiment).")
        endpoint = config["S3_ENDPOINT_URL"] or None
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=config["S3_REGION"] or None,
            aws_access_key_id=config["S3_ACCESS_KEY_ID"] or None,
            aws_secret_access_key=config["S3_SECRET_ACCESS_KEY"] or None,
            config=BotoConfig(
                signature_version="s3v4", connect_timeout=5, read_timeout=30,
                retries={"mode": "standard", "max_attempts": 3},
                # S3-compatible servers (MinIO, Ceph, moto…) answer at /bucket/key rather than at bucket.host.
                s3={"addressing_style": "path" if endpoint else "auto"},
            ),
        )
        return cls(client, config["S3_BUCKET"])

    def save(self, key, data):
        """Put bytes under a key with their SHA-256, which the server checks on arrival and keeps with the object."""
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
        with _answers(key):
            answer = self.client.put_object(Bucket=self.bucket, Key=checked_key(key), Body=data,
                                            ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)
        if answer.get("ChecksumSHA256", checksum) != checksum:
            raise CorruptedObject(f"{key} : le serveur S3 a gardé un autre contenu que celui envoyé")

    def open(self, key):
        """Return (binary stream, size in bytes) of an object, checked against its SHA-256 as its last bytes arrive;
        FileNotFoundError when there is none."""
        with _answers(key):
            answer = self.client.get_object(Bucket=self.bucket, Key=checked_key(key), ChecksumMode="ENABLED")
        return CheckedBody(answer["Body"], key), answer["ContentLength"]

    def read(self, key):
        """Return an object's bytes, checked against its SHA-256."""
        stream, _ = self.open(key)
        with closing(stream):
            return stream.read()

    def delete(self, key):
        """Erase an object; erasing one already gone is not an error."""
        with _answers(key):
            self.client.delete_object(Bucket=self.bucket, Key=checked_key(key))

    def exists(self, key):
        """Tell whether an object is stored under a key (a HEAD's bare 404 cannot tell a missing bucket apart)."""
        try:
            with _answers(key):
                self.client.head_object(Bucket=self.bucket, Key=checked_key(key))
        except FileNotFoundError:
            return False
        return True


@contextmanager
def _answers(key):
    """Turn S3's errors into a folder's: FileNotFoundError for « no such key », StorageUnavailable for the others."""
    try:
        yield
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "NotFound", "404"):
            raise FileNotFoundError(f"aucun objet {key}") from error
        raise StorageUnavailable(f"S3 a répondu par une erreur pour {key} : {error}") from error
    except BotoCoreError as error:
        raise StorageUnavailable(f"S3 n'a pas répondu pour {key} : {error}") from error


class CheckedBody:
    """An object's content as it comes from S3: botocore hashes it on the way and compares the hash with the
    object's SHA-256 when the last bytes arrive, so an altered object is never read whole."""

    def __init__(self, body, key):
        self._body, self._key = body, key

    def read(self, size=-1):
        """Return up to ``size`` bytes (all that is left when negative); CorruptedObject at the end of an altered one."""
        try:
            return self._body.read(None if size is None or size < 0 else size)
        except FlexibleChecksumError as error:
            log.error("Objet S3 %s : son contenu ne correspond plus à son empreinte SHA-256", self._key)
            raise CorruptedObject(f"{self._key} : le contenu ne correspond plus à son empreinte SHA-256") from error
        except BotoCoreError as error:
            raise StorageUnavailable(f"S3 a cessé de répondre pendant la lecture de {self._key} : {error}") from error

    def close(self):
        """Give the connection back."""
        self._body.close()


def backend_for(config):
    """Return the store the settings choose: the instance folder (local) or an S3 bucket (s3)."""
    choice = config["STORAGE_BACKEND"]
    if choice == "local":
        return LocalStore(config["STORAGE_DIR"])
    if choice == "s3":
        return S3Store.from_config(config)
    raise ValueError(f"STORAGE_BACKEND={choice} est inconnu : choisissez local ou s3.")


def init_app(app):
    """Open the store the settings choose for this app and add the `flask storage` commands."""
    app.extensions["storage"] = backend_for(app.config)
    app.cli.add_command(storage_cli)


def backend():
    """Return the current app's store."""
    return current_app.extensions["storage"]


def store(data, folder, suffix):
    """Write bytes under a random name in a folder of the storage; return its key (the relative path rows keep)."""
    key = posixpath.join(folder, secrets.token_hex(16) + suffix)
    backend().save(key, data)
    return key


def read(relative):
    """Return a stored file's bytes: FileNotFoundError when it is missing, ValueError when it is not a key of the
    storage (CorruptedObject when it no longer matches its SHA-256)."""
    return backend().read(relative)


def delete(relative):
    """Erase a stored file (a cancelled request's documents)."""
    backend().delete(relative)


def exists(relative):
    """Tell whether a file is stored under this key."""
    return backend().exists(relative)


def full_path(relative):
    """Return the absolute path of a file of the local folder (STORAGE_DIR), refusing anything outside it."""
    return LocalStore(current_app.config["STORAGE_DIR"]).path(relative)


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
    """Return the SHA-256 of bytes, in hexadecimal."""
    return hashlib.sha256(data).hexdigest()


def send(relative, content_type, filename, *, download=False):
    """Stream a stored file to the browser, inline (viewed in it) or as an attachment, never cached; 404 when missing."""
    try:
        stream, size = backend().open(relative)
    except (FileNotFoundError, ValueError):
        abort(404)
    disposition = "attachment" if download else "inline"
    # A name stored before uploads were cleaned may hold a line break, which no header may carry.
    filename = clean_name(filename) or "document"
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    # The server's file wrapper sends a local file with sendfile; it reads an S3 object chunk by chunk.
    response = Response(wrap_file(request.environ, stream, CHUNK_SIZE), mimetype=content_type, direct_passthrough=True)
    response.content_length = size
    response.headers["Content-Disposition"] = f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def send_pdf(relative, filename, *, download=False):
    """Return a stored PDF, inline or as a download."""
    return send(relative, "application/pdf", filename, download=download)


# --- `flask storage copy-to-s3`: moving a local store into a bucket ------------------------------------------------

storage_cli = AppGroup("storage", help="Stockage des fichiers : dossier local ou compartiment S3.")


def _held_digest(store, key):
    """Return the SHA-256 of what a store holds under a key: None when nothing, "" when it fails its own checksum."""
    try:
        stream, _ = store.open(key)
    except FileNotFoundError:
        return None
    hashed = hashlib.sha256()
    try:
        with closing(stream):
            for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
                hashed.update(chunk)
    except CorruptedObject:
        return ""
    return hashed.hexdigest()


def copy_store(source, target, *, replace=False, progress=None):
    """Copy every file of a local store into another store and read each object back to compare its SHA-256 with the
    file's; an object already there with the same hash is skipped, one that differs is reported (and overwritten
    with ``replace``). Return {"copied": [keys], "present": [keys], "mismatched": [keys]}."""
    report = {"copied": [], "present": [], "mismatched": []}
    for number, key in enumerate(source.keys(), 1):
        data = source.read(key)
        expected = digest(data)
        held = _held_digest(target, key)
        if held == expected:
            report["present"].append(key)
        elif held is not None and not replace:
            report["mismatched"].append(key)
        else:
            try:
                target.save(key, data)
            except CorruptedObject:
                pass  # the bucket kept other bytes: reading them back below reports it
            report["copied" if _held_digest(target, key) == expected else "mismatched"].append(key)
        if progress and number % 1000 == 0:
            progress(number)
    return report


@storage_cli.command("copy-to-s3", help="Copier le dossier local (STORAGE_DIR) dans le compartiment S3 (S3_*) en "
                                         "vérifiant l'empreinte SHA-256 de chaque objet ; relancée, elle passe ce qui y "
                                         "est déjà et signale ce qui diffère.")
@click.option("--remplacer", "replace", is_flag=True,
              help="Remplacer par le fichier local les objets du compartiment dont l'empreinte diffère.")
def copy_to_s3_command(replace):
    """Copy the local store (STORAGE_DIR) into the S3 bucket (S3_*), checking every object's SHA-256; idempotent."""
    config = current_app.config
    source = LocalStore(config["STORAGE_DIR"])
    if not os.path.isdir(source.root):
        raise click.ClickException(f"Le dossier de stockage {source.root} n'existe pas : rien à copier.")
    try:
        target = S3Store.from_config(config)
    except ValueError as error:
        raise click.ClickException(str(error))
    click.echo(f"Copie de {source.root} vers le compartiment S3 « {target.bucket} », empreintes SHA-256 vérifiées.")
    try:
        report = copy_store(source, target, replace=replace,
                            progress=lambda number: click.echo(f"… {number} fichiers vérifiés"))
    except StorageUnavailable as error:
        raise click.ClickException(f"Le compartiment S3 « {target.bucket} » ne répond pas comme prévu : {error}")
    click.echo(f"Copiés : {len(report['copied'])}")
    click.echo(f"Déjà présents avec la même empreinte : {len(report['present'])}")
    click.echo(f"Empreintes différentes : {len(report['mismatched'])}")
    for key in report["mismatched"]:
        click.echo(f"  {key} : l'objet du compartiment ne correspond pas au fichier local")
    if report["mismatched"]:
        advice = "vérifiez-les" if replace else "vérifiez-les, ou relancez avec --remplacer pour y copier le fichier local"
        raise click.ClickException(f"{len(report['mismatched'])} objet(s) différent(s) du fichier local : {advice}.")
