"""The public portal: one blueprint per flow, the menus each role sees, and the access guards."""
from functools import wraps

from flask import abort, has_request_context, redirect, render_template, request, url_for
from flask_login import current_user

from models import Notification, OrgKind, Role

ORG_ROLES = (Role.ORG_ADMIN, Role.ORG_DEPUTY)

#: The portal menu: (label, endpoint, who sees it). An entry shows once its page exists.
MENU = [
    ("Accueil", "home.index", "all"),
    ("Mon compte", "home.account", "driver admin"),
    ("Mon Contrat", "organisation.contract", "admin"),
    ("Mes Gestionnaires", "organisation.managers", "admin"),
    ("Mes formations", "trainings.index", "driver"),
    ("Mes formations déclarées", "centre.trainings", "centre"),
    ("Mes certificats", "trainings.certificates", "driver"),
    ("Mes Conducteurs", "organisation.drivers", "company manager"),
    ("Mes Demandes", "requests.index", "all"),
    ("Mes Factures", "invoices.index", "driver admin"),
    ("Mes Cartes", "cards.index", "driver company manager"),
    ("Supervision", "organisation.supervision", "admin manager"),
]


def audiences(user):
    """Return the words of MENU that describe this account."""
    if user.role == Role.DRIVER:
        return {"all", "driver"}
    words = {"all"}
    words.add("admin" if user.role in ORG_ROLES else "manager")
    kind = user.organisation.kind if user.organisation_id else None
    if kind == OrgKind.CENTRE and user.role in ORG_ROLES:
        words.add("centre")
    if kind == OrgKind.COMPANY:
        words.add("company")
    return words


def menu_for(app, user):
    """Return the (label, endpoint) entries of the menu this account sees."""
    words = audiences(user)
    return [
        (label, endpoint)
        for label, endpoint, who in MENU
        if endpoint in app.view_functions and words & set(who.split())
    ]


def account_required(*roles):
    """Let only logged-in public accounts (of these roles, if given) reach a view."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login", next=request.full_path))
            if current_user.is_staff or (roles and current_user.role not in roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


ERRORS = [
    (400, "Requête invalide", "La page a expiré ou le formulaire est incomplet : rechargez la page et recommencez."),
    (403, "Accès refusé", "Vous n'avez pas accès à cette page."),
    (404, "Page introuvable", "Cette page n'existe pas ou vous n'y avez pas accès."),
    (500, "Erreur technique", "Une erreur technique est survenue : réessayez dans quelques instants."),
]


def _error_page(code, title, message):
    def handler(error):
        return render_template("public/error.html", title=title, message=message), code

    return handler


def init_app(app):
    """Register the public blueprints and the portal's template context."""
    from public_forms import (
        accounts, auth, cards, centre, home, invoices, password, payments, replacements, requests, sandbox, trainings,
    )

    for module in (home, auth, password, accounts, trainings, requests, replacements, cards, centre, payments, sandbox,
                   invoices):
        app.register_blueprint(module.bp)

    for code, title, message in ERRORS:
        app.register_error_handler(code, _error_page(code, title, message))

    @app.context_processor
    def portal_context():
        # E-mails are rendered by jobs too, outside any request: no portal there.
        if has_request_context() and current_user.is_authenticated and not current_user.is_staff:
            unread = Notification.select().where(
                Notification.user == current_user.id, Notification.read_at.is_null()
            ).count()
            return {"portal_menu": menu_for(app, current_user), "unread_notifications": unread}
        return {"portal_menu": [], "unread_notifications": 0}
