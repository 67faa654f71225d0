"""The audit log: who did what, when, under which request."""
from flask import has_request_context, request
from flask_login import current_user

from services import audit_chain, observability


def record(action, target="", detail="", *, staff=None, user=None):
    """Write one audit line; the actor defaults to whoever is logged in, the request id to the current request's."""
    if staff is None and user is None and has_request_context() and current_user.is_authenticated:
        if current_user.is_staff:
            staff = current_user
        else:
            user = current_user
    ip = (request.remote_addr or "") if has_request_context() else ""
    # Chained to the previous line (services/audit_chain.py): an edited or deleted line shows.
    return audit_chain.write(action=action, target=str(target)[:255], detail=detail, staff=staff, user=user, ip=ip,
                             request_id=observability.request_id())
