"""Logs as one JSON line per record, one per request, and the request id that ties a request to its audit rows and
its error page."""
import datetime as dt
import json
import logging
import re
import secrets
import time

from flask import g, has_request_context, request, session

#: The header a trusted proxy (TRUSTED_PROXIES) sets to name a request; the answer carries it back.
HEADER = "X-Request-Id"
#: What a request id taken from that header may look like (a UUID, nginx's $request_id…): nothing else is logged.
ACCEPTED_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,127}")
#: What the logs show in place of a path's secret part (/mot-de-passe/<token>).
MASK = "••••"

log = logging.getLogger("hubpro.requests")


def request_id():
    """Return the current request's id: the trusted proxy's X-Request-Id, else one made here; "" outside a request."""
    if not has_request_context():
        return ""
    environ = request.environ
    if "hubpro.request_id" not in environ:
        from flask import current_app

        given = request.headers.get(HEADER, "") if current_app.config["TRUSTED_PROXIES"] else ""
        environ["hubpro.request_id"] = given if ACCEPTED_ID.fullmatch(given) else secrets.token_hex(16)
    return environ["hubpro.request_id"]


class JsonFormatter(logging.Formatter):
    """Write a log record as one JSON line: time, level, logger, message, the request id, and the record's fields."""

    def format(self, record):
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            line["request_id"] = request_id()
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def init_logging():
    """Send every log record to standard error as a JSON line (once per process, whatever apps it builds)."""
    root = logging.getLogger()
    if any(isinstance(handler.formatter, JsonFormatter) for handler in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)


def logged_path():
    """Return the request's path without its query string, and with any token it carries masked."""
    path = request.path
    for name, value in (request.view_args or {}).items():
        if "token" in name and value:
            path = path.replace(str(value), MASK)
    return path


def who():
    """Return (kind, id) of the account behind the request: ("staff"|"public", id), or ("anonymous", None)."""
    user = g.get("_login_user")
    if user is not None and user.is_authenticated:
        return ("staff" if user.is_staff else "public"), user.id
    # Not loaded by the view (a static file): the signed session names it, « u42.<key> » or « s7.<key> ».
    identifier = session.get("_user_id") or ""
    number = identifier[1:].partition(".")[0]
    if identifier[:1] in ("u", "s") and number.isdigit():
        return ("staff" if identifier[0] == "s" else "public"), int(number)
    return "anonymous", None


def init_app(app):
    """Log every request as one JSON line under its request id, sent back in X-Request-Id and given to templates."""
    init_logging()

    @app.before_request
    def _start():
        request.environ["hubpro.started"] = time.perf_counter()
        request_id()

    @app.after_request
    def _log(response):
        started = request.environ.get("hubpro.started", time.perf_counter())
        kind, user_id = who()
        fields = {
            "method": request.method,
            "path": logged_path(),
            "endpoint": request.endpoint,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "user_kind": kind,
            "user_id": user_id,
        }
        log.info("%s %s %s", fields["method"], fields["path"], fields["status"], extra={"fields": fields})
        response.headers[HEADER] = request_id()
        return response

    @app.context_processor
    def _request_id():
        return {"request_id": request_id() if has_request_context() else ""}
