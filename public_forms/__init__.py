"""The public portal: one blueprint per flow, the menus each role sees, and the access guards."""
import enum
from functools import wraps

from flask import abort, current_app, has_request_context, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.routing import IntegerConverter, ValidationError

from models import Notification, OrgKind


class Audience(enum.StrEnum):
    """Who an account is to the portal: what decides its menu and the pages it may open."""

    DRIVER = "driver"
    COMPANY_ADMIN = "company_admin"
    COMPANY_MANAGER = "company_manager"
    CENTRE_ADMIN = "centre_admin"
    CENTRE_MANAGER = "centre_manager"


#: An organisation's administrators (and deputies, who have exactly their rights).
ADMINS = (Audience.COMPANY_ADMIN, Audience.CENTRE_ADMIN)
COMPANY = (Audience.COMPANY_ADMIN, Audience.COMPANY_MANAGER)
CENTRE = (Audience.CENTRE_ADMIN, Audience.CENTRE_MANAGER)
EVERYONE = tuple(Audience)

#: The portal menu, as guide 000 draws it per role: (label, endpoint, who sees it). An entry shows once its
#: page exists; the pages behind an entry let in exactly these audiences (tests/test_organisation_access.py).
MENU = [
    ("Accueil", "home.index", EVERYONE),
    ("Mon compte", "home.account", (Audience.DRIVER, *ADMINS)),
    ("Mon Contrat", "contract.index", ADMINS),
    ("Mes Gestionnaires", "managers.index", ADMINS),
    ("Mes formations", "trainings.index", (Audience.DRIVER,)),
    ("Mes formations déclarées", "centre.trainings", CENTRE),
    ("Mes certificats", "trainings.certificates", (Audience.DRIVER,)),
    ("Mes Conducteurs", "drivers.index", COMPANY),
    ("Mes Demandes", "requests.index", (Audience.DRIVER, *COMPANY, Audience.CENTRE_ADMIN)),
    ("Mes Factures", "invoices.index", (Audience.DRIVER, *ADMINS)),
    ("Mes Cartes", "cards.index", (Audience.DRIVER, *COMPANY)),
    ("Supervision", "supervision.index", (*COMPANY, Audience.CENTRE_ADMIN)),
]


#: The furthest page a list opens: beyond, the offset asked of the database outgrows what it holds.
LAST_PAGE = 100_000


def requested_page():
    """Return the page number the address bar asks for, from 1 to LAST_PAGE (1 when it is not a number)."""
    return min(max(request.args.get("page", 1, type=int), 1), LAST_PAGE)


class RowId(IntegerConverter):
    """An <int:…> in an address names a row: beyond what an id column holds (2**31 - 1 on PostgreSQL) no page exists,
    and the number never reaches the database driver (SQLite's overflows past 2**63)."""

    MAX = 2**31 - 1

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", self.MAX)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value):
        try:
            return super().to_python(value)
        except ValidationError:
            current_app.logger.warning("Adresse refusée (identifiant hors limites) : %s caractères", len(value))
            raise


def audience_of(user):
    """Return the audience of a public account."""
    if user.organisation_id is None:
        return Audience.DRIVER
    kind = "company" if user.organisation.kind == OrgKind.COMPANY else "centre"
    return Audience(f"{kind}_{'admin' if user.is_org_admin else 'manager'}")


def menu_for(app, user):
    """Return the (label, endpoint) entries of the menu this account sees."""
    audience = audience_of(user)
    return [(label, endpoint) for label, endpoint, who in MENU if endpoint in app.view_functions and audience in who]


#: Blueprints whose pages belong to another blueprint's menu entry.
UNDER = {"tachographs": "requests.index", "replacements": "requests.index"}


def current_entry(menu):
    """Return the menu entry the page belongs to: its own, else the one entry of its blueprint (a form under it)."""
    if any(endpoint == request.endpoint for _, endpoint in menu):
        return request.endpoint
    if request.blueprint in UNDER:
        return UNDER[request.blueprint]
    same = [endpoint for _, endpoint in menu if endpoint.split(".")[0] == request.blueprint]
    return same[0] if len(same) == 1 else None


def account_required(*audiences):
    """Let only logged-in public accounts (of these audiences, if given) reach a view; others get 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("auth.login", next=request.full_path))
            if current_user.is_staff or (audiences and audience_of(current_user) not in audiences):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def menu_page(endpoint):
    """Let in exactly the audiences whose menu has this entry: a page outside one's menu answers 403."""
    return account_required(*next(who for _, entry, who in MENU if entry == endpoint))


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
        accounts, auth, cards, centre, contract, drivers, home, invoices, legal, managers, password, payments,
        replacements, requests, sandbox, supervision, tachographs, trainings,
    )

    # Every rule added from here on (the back office's too) reads its ids this way.
    app.url_map.converters["int"] = RowId
    for module in (home, auth, password, accounts, trainings, requests, replacements, cards, centre, payments, sandbox,
                   invoices, contract, managers, drivers, tachographs, supervision, legal):
        app.register_blueprint(module.bp)

    for code, title, message in ERRORS:
        app.register_error_handler(code, _error_page(code, title, message))

    fixed = {}

    @app.template_global()
    def fixed_url(endpoint, **values):
        """Return url_for(endpoint, **values) for an address every page repeats (style sheets, menu, footer), built once."""
        key = (request.script_root, endpoint, *sorted(values.items()))
        if key not in fixed:
            fixed[key] = url_for(endpoint, **values)
        return fixed[key]

    @app.context_processor
    def portal_context():
        # E-mails are rendered by jobs too, outside any request: no portal there.
        if has_request_context() and current_user.is_authenticated and not current_user.is_staff:
            # Counted with the account by the session's query (User.signed_in).
            unread = getattr(current_user._get_current_object(), "unread_notifications", None)
            if unread is None:
                unread = Notification.unread_count(current_user.id)
            menu = menu_for(app, current_user)
            return {"portal_menu": menu, "current_entry": current_entry(menu), "unread_notifications": unread}
        return {"portal_menu": [], "current_entry": None, "unread_notifications": 0}
