"""Readiness for the load balancer: the database answers, the storage takes a file, the scheduler is alive."""
import logging
import secrets

from models import db
from services import scheduler, storage

log = logging.getLogger("hubpro.health")


def database_ok():
    """Does the database answer a query?"""
    try:
        db.execute_sql("SELECT 1").fetchone()
        return True
    except Exception:  # any driver's error: the answer is « no », the log says why
        log.exception("Contrôle de santé : base de données injoignable")
        return False


def storage_ok():
    """Can the storage write, read back and erase a file (through its public functions, whatever its backend)?"""
    probe = secrets.token_bytes(16)
    try:
        key = storage.store(probe, "sante", ".bin")
        try:
            return storage.read(key) == probe
        finally:
            storage.delete(key)
    except Exception:  # a full disk, a read-only folder, an unreachable bucket
        log.exception("Contrôle de santé : stockage indisponible")
        return False


def scheduler_ok():
    """Did the scheduler holding the lock beat within JOBS_HEARTBEAT_MAX_AGE?"""
    try:
        return scheduler.is_alive()
    except Exception:  # the database answered the first check but not this one
        log.exception("Contrôle de santé : signe de vie du planificateur illisible")
        return False


def readiness():
    """Return {check: passed} for each check, the database first (the others need it)."""
    checks = {"database": database_ok()}
    checks["storage"] = storage_ok()
    checks["scheduler"] = checks["database"] and scheduler_ok()
    return checks
