"""The audit log: who did what, when."""
from flask import has_request_context, request
from flask_login import current_user

from models import AuditLog


def record(action, target="", detail="", *, staff=None, user=None):
    """Write one audit line; the actor defaults to whoever is logged in."""
    if staff is None and user is None and has_request_context() and current_user.is_authenticated:
        if current_user.is_staff:
            staff = current_user
        else:
            user = current_user
    ip = (request.remote_addr or "") if has_request_context() else ""
    return AuditLog.create(action=action, target=str(target)[:255], detail=detail, staff=staff, user=user, ip=ip)
