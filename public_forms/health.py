"""/sante: the load balancer's readiness check, open to anyone, never limited, and naming no one."""
from flask import Blueprint, jsonify
from werkzeug.exceptions import HTTPException

from services import health
from services.limits import limiter

bp = Blueprint("health", __name__)
limiter.exempt(bp)


def _answer(checks):
    ready = all(checks.values())
    response = jsonify({"status": "ok" if ready else "unavailable", "checks": checks})
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/sante")
def ready():
    """Answer 200 when the database, the storage and the scheduler are all well, 503 otherwise, as JSON."""
    return _answer(health.readiness())


@bp.errorhandler(Exception)
def unreachable(error):
    """Answer 503 when the request could not even reach the view (no connection from the pool)."""
    if isinstance(error, HTTPException):
        return error
    health.log.error("Contrôle de santé : %s", error)
    return _answer({"database": False, "storage": health.storage_ok(), "scheduler": False})
