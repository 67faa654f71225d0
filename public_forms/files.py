"""Stored files (summaries, certificates, uploads) served to their owner, never cached by the browser."""
from urllib.parse import quote

from flask import Response, abort

from services import storage


def stored_file(relative, content_type, filename, *, download=False):
    """Return a stored file as a response: inline (viewed in the browser) or as an attachment."""
    try:
        data = storage.read(relative)
    except (FileNotFoundError, ValueError):
        abort(404)
    disposition = "attachment" if download else "inline"
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    response = Response(data, mimetype=content_type)
    response.headers["Content-Disposition"] = (
        f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def pdf_response(relative, filename, *, download=False):
    """Return a stored PDF, inline or as a download."""
    return stored_file(relative, "application/pdf", filename, download=download)
