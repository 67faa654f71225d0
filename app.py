"""Hub Pro Transport: the application factory."""
import datetime as dt
import os
import secrets
import time

import click
from flask import Flask, flash, g, request, session
from flask_babel import Babel
from flask_login import LoginManager, logout_user
from flask_wtf.csrf import CSRFProtect
from playhouse.db_url import connect, register_database
from playhouse.pool import PooledPostgresqlDatabase
from werkzeug.middleware.proxy_fix import ProxyFix

import models
from models import db

#: Settings read from the environment (and an optional instance/config.py), with their defaults.
DEFAULTS = {
    #: development (scripts/run.sh), test (the suite) or production: production refuses unsafe settings.
    "HUBPRO_ENV": "development",
    "SECRET_KEY": None,
    "DATABASE_URL": None,
    "MAIL_SERVER": "",
    "MAIL_PORT": 25,
    "MAIL_USERNAME": "",
    "MAIL_PASSWORD": "",
    "MAIL_USE_TLS": False,
    "MAIL_DEFAULT_SENDER": "Hub Pro Transport <no-reply@hubpro-transport.fr>",
    "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
    "LINK_VALIDITY_HOURS": 48,
    "STORAGE_DIR": None,
    #: Where uploaded and issued files are kept: local (STORAGE_DIR, one node) or s3 (a private bucket every node shares).
    "STORAGE_BACKEND": "local",
    "S3_ENDPOINT_URL": "",
    "S3_BUCKET": "",
    "S3_ACCESS_KEY_ID": "",
    "S3_SECRET_ACCESS_KEY": "",
    "S3_REGION": "",
    "SIRENE_BACKEND": "local",
    "SIRENE_API_URL": "https://api.insee.fr/api-sirene/3.11",
    "SIRENE_API_KEY": "",
    "SIRENE_API_TIMEOUT": 5,
    "SMS_BACKEND": "outbox",
    #: Payment provider: its hosted page (empty: the local sandbox) and the notifications' HMAC secret.
    "PAYMENT_PROVIDER_URL": "",
    #: Its refund service (a payment confirmed for a file that no longer waited for it is refunded there).
    "PAYMENT_REFUND_URL": "",
    "PAYMENT_SECRET": "sandbox-secret-change-me",
    #: The seller printed on invoices.
    "SELLER_NAME": "IN Groupe",
    "SELLER_ADDRESS": "104 avenue du Président Kennedy, 75016 Paris",
    "SELLER_SIREN": "410494496",
    "PASSWORD_HASH_METHOD": "scrypt",
    #: Seconds a login waits per failure past the third (brute-force slow-down).
    "LOGIN_SLOWDOWN_SECONDS": 1.0,
    #: Account creations and « Mot de passe oublié » requests allowed per IP address and hour.
    "FORM_RATE_LIMIT": 20,
    #: Login attempts allowed per IP address (Flask-Limiter's notation), whatever the accounts tried.
    "LOGIN_RATE_LIMIT": "30 per minute;300 per hour",
    #: Where the limits per address are counted: memory:// (one process) or redis://… (shared by every node).
    "RATELIMIT_STORAGE_URI": "memory://",
    #: How many reverse proxies (load balancers) stand in front of the app and set X-Forwarded-For/-Proto.
    "TRUSTED_PROXIES": 0,
    #: A staff session ends after this many idle minutes, and after this many hours in all.
    "STAFF_IDLE_MINUTES": 30,
    "STAFF_SESSION_HOURS": 10,
    #: Staff log in with a code from an authenticator application (always in production).
    "STAFF_SECOND_FACTOR": False,
    #: `flask jobs run` (one per machine): a process waiting for the scheduler's lock tries again this often; the one
    #: holding it writes its heartbeat this often; /sante counts the scheduler dead past JOBS_HEARTBEAT_MAX_AGE.
    "JOBS_LOCK_RETRY_SECONDS": 10,
    "JOBS_HEARTBEAT_SECONDS": 15,
    "JOBS_HEARTBEAT_MAX_AGE": 120,
    #: When set, every job runs this often instead of on its own schedule (tests, demonstrations).
    "JOBS_EVERY_SECONDS": 0,
    #: The address that receives, each day, the last hash of the audit log's chain (a copy kept outside the database).
    "AUDIT_HASH_RECIPIENT": "",
}
INT_SETTINGS = {
    "MAIL_PORT", "LINK_VALIDITY_HOURS", "SIRENE_API_TIMEOUT", "FORM_RATE_LIMIT", "TRUSTED_PROXIES",
    "STAFF_IDLE_MINUTES", "STAFF_SESSION_HOURS",
    "JOBS_LOCK_RETRY_SECONDS", "JOBS_HEARTBEAT_SECONDS", "JOBS_HEARTBEAT_MAX_AGE", "JOBS_EVERY_SECONDS",
}
BOOL_SETTINGS = {"MAIL_USE_TLS", "STAFF_SECOND_FACTOR"}

#: The consent boxes of the driver account form (guide 001 asks for 4, guide 004 for 3).
DRIVER_CONSENTS = [
    ("cgu", "J'ai lu et j'accepte les conditions générales d'utilisation du portail (CGU)."),
    ("rgpd", "J'ai pris connaissance de la politique de confidentialité et de protection de mes données personnelles (RGPD)."),
    ("cgv", "J'ai lu et j'accepte les conditions générales de vente (CGV)."),
    ("exactitude", "J'atteste sur l'honneur l'exactitude des informations renseignées."),
]
#: The consent boxes of the centre and company account forms: the administrator accepts for the organisation.
ORGANISATION_CONSENTS = [
    ("cgu", "J'ai lu et j'accepte les conditions générales d'utilisation du portail (CGU)."),
    ("rgpd", "J'ai pris connaissance de la politique de confidentialité et de protection des données personnelles (RGPD)."),
    ("cgv", "J'ai lu et j'accepte, pour le compte de mon organisme, les conditions générales de vente (CGV)."),
]


def create_app(test_config=None):
    """Create and configure the web application."""
    app = Flask(__name__, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(DEFAULTS, DRIVER_CONSENTS=DRIVER_CONSENTS, ORGANISATION_CONSENTS=ORGANISATION_CONSENTS)
    app.config["BABEL_DEFAULT_LOCALE"] = "fr"
    app.config["MAX_CONTENT_LENGTH"] = 12 * 1024 * 1024
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(_settings_from_environment())
    if test_config:
        app.config.update(test_config)
    app.config["STORAGE_DIR"] = app.config["STORAGE_DIR"] or os.path.join(app.instance_path, "files")
    from services.storage import init_app as init_storage

    init_storage(app)

    _init_observability(app)
    init_db(app)
    _check_environment(app)
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or _instance_secret(app)
    _init_security(app)
    _init_login(app)
    CSRFProtect(app)
    Babel(app)

    from public_forms import init_app as init_public
    from admin_views import init_admin
    from jobs import init_app as init_jobs
    from services.audit_chain import init_app as init_audit
    from services.formatting import init_app as init_formatting

    init_formatting(app)
    init_public(app)
    init_admin(app)
    init_jobs(app)
    init_audit(app)
    _init_cli(app)
    from public_forms import health

    app.register_blueprint(health.bp)
    return app


def _settings_from_environment():
    settings = {}
    for name in DEFAULTS:
        value = os.environ.get(name)
        if value is None:
            continue
        if name in INT_SETTINGS:
            value = int(value)
        elif name in BOOL_SETTINGS:
            value = value.lower() in ("1", "true", "yes", "oui")
        settings[name] = value
    return settings


def _check_environment(app):
    """Refuse an unknown environment, and in production every setting left at its public default."""
    from services import production

    environment = app.config["HUBPRO_ENV"]
    if environment not in production.ENVIRONMENTS:
        raise production.UnsafeProduction(
            f"HUBPRO_ENV={environment} est inconnu : choisissez development, test ou production."
        )
    if environment == "production":
        app.config["STAFF_SECOND_FACTOR"] = True
        with app.app_context():
            db.connect(reuse_if_open=True)
            try:
                production.refuse_unsafe(app.config, DEFAULTS)
            finally:
                db.close()


#: HTML answers shown inside an iframe of the back office (the e-mail read in « Boîte d'envoi »).
FRAMED_BY_OWN_PAGES = {"outbox.html"}


def _init_security(app):
    """Cookies, proxies, limits per address and the headers every answer carries."""
    from services.limits import limiter, too_many

    https = app.config["PUBLIC_BASE_URL"].startswith("https://")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=https,
    )
    proxies = app.config["TRUSTED_PROXIES"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    # The limiter is one object for every app a process builds: each app says whether it counts.
    app.config.setdefault("RATELIMIT_ENABLED", True)
    limiter.init_app(app)
    app.register_error_handler(429, too_many)

    @app.before_request
    def _nonce():
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.after_request
    def _headers(response):
        nonce = g.get("csp_nonce", "")
        # Pages are never framed (clickjacking); a document or an e-mail is shown framed in the file's own page.
        framed = response.mimetype != "text/html" or request.endpoint in FRAMED_BY_OWN_PAGES
        ancestors = "frame-ancestors " + ("'self'" if framed else "'none'")
        # A view's own, stricter policy stays (an e-mail read in « Boîte d'envoi » runs sandboxed, without script).
        own = response.headers.get("Content-Security-Policy")
        response.headers["Content-Security-Policy"] = f"{own}; {ancestors}" if own else (
            f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; {ancestors}"
        )
        response.headers["X-Frame-Options"] = "SAMEORIGIN" if framed else "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        # A link's secret (/mot-de-passe/<token>, …) must never leave in a Referer header.
        carries_token = any("token" in name for name in (request.view_args or {}))
        response.headers["Referrer-Policy"] = "no-referrer" if carries_token else "same-origin"
        if https:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response


def _init_observability(app):
    """One JSON log line per request, under a request id the audit log and the error pages show too."""
    from services import observability

    observability.init_app(app)


def _instance_secret(app):
    """Return a secret key kept in the instance folder, so sessions survive a restart."""
    path = os.path.join(app.instance_path, "secret_key")
    if not os.path.exists(path):
        with open(path, "w") as handle:
            handle.write(secrets.token_hex(32))
    with open(path) as handle:
        return handle.read().strip()


class RecentPostgresqlPool(PooledPostgresqlDatabase):
    """peewee's PostgreSQL pool without its « SELECT 1 » at each checkout of a connection that came back less than
    PING_AFTER seconds ago (under load, every request's: one round trip in eight on a holder's page); a connection
    idle longer is checked as before."""

    PING_AFTER = 10

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._returned_at = {}

    def _is_closed(self, conn):
        if conn.closed:
            return True
        if time.time() - self._returned_at.pop(id(conn), 0) < self.PING_AFTER:
            return self._adapter.txn_status(conn) == self._adapter.txn_unknown
        return super()._is_closed(conn)

    def _close(self, conn, close_conn=False):
        super()._close(conn, close_conn)
        if not close_conn:
            self._returned_at[id(conn)] = time.time()


register_database(RecentPostgresqlPool, "postgresql+pool")


def database_for(url):
    """Return the peewee database for a URL; PostgreSQL goes through peewee's connection pool."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+pool://" + url.split("://", 1)[1]
    if url.startswith("postgresql+pool://"):
        return connect(url, max_connections=32, stale_timeout=300, timeout=10)
    if url.startswith("sqlite"):
        return connect(url, pragmas={"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10000})
    return connect(url)


def init_db(app):
    """Configure the database and open a connection per request, returned on teardown."""
    url = app.config["DATABASE_URL"] or "sqlite:///" + os.path.join(app.instance_path, "hubpro.sqlite3")
    app.config["DATABASE_URL"] = url
    if not isinstance(db.obj, type(None)) and not db.obj.is_closed():
        db.obj.close()
    db.initialize(database_for(url))

    @app.before_request
    def _open_connection():
        db.connect(reuse_if_open=True)

    @app.teardown_appcontext
    def _close_connection(exc):
        if not db.is_closed():
            db.close()


def _init_login(app):
    login = LoginManager(app)
    login.login_view = "auth.login"
    login.login_message = "Veuillez vous connecter pour accéder à cette page."
    login.login_message_category = "info"

    @login.user_loader
    def load(identifier):
        number, _, key = identifier[1:].partition(".")
        if not number.isdigit() or len(number) > 18:
            return None
        if identifier.startswith("s"):
            account = models.Staff.signed_in(int(number))
        elif identifier.startswith("u"):
            account = models.User.signed_in(int(number))
        else:
            return None
        # A session whose key the account no longer holds was ended (logout, new password…) elsewhere.
        return account if account is not None and account.holds_session(key) else None

    @app.before_request
    def _end_stale_staff_sessions():
        """End a staff session idle for STAFF_IDLE_MINUTES, or older than STAFF_SESSION_HOURS."""
        if "_user_id" not in session or not session["_user_id"].startswith("s"):
            return
        now = models.clock.now().timestamp()
        started, seen = session.get("staff_since", now), session.get("staff_seen", now)
        idle = dt.timedelta(minutes=app.config["STAFF_IDLE_MINUTES"]).total_seconds()
        longest = dt.timedelta(hours=app.config["STAFF_SESSION_HOURS"]).total_seconds()
        if now - seen > idle or now - started > longest:
            logout_user()
            session.pop("staff_since", None)
            session.pop("staff_seen", None)
            flash("Votre session du back-office a pris fin : reconnectez-vous.", "info")
            return
        session["staff_since"], session["staff_seen"] = started, now


def _init_cli(app):
    @app.cli.command("init-db")
    def init_db_command():
        """Bring the database up to date (the same as `flask db upgrade`)."""
        _upgrade()

    @app.cli.group("db")
    def db_group():
        """The database's schema, through versioned migrations (models/migrations)."""

    @db_group.command("upgrade")
    def db_upgrade_command():
        """Apply the migrations the database lacks, then the triggers, search indexes and procedures."""
        _upgrade()

    def _upgrade():
        applied = models.create_tables()
        click.echo(f"Migrations appliquées : {', '.join(applied)}." if applied else "Aucune migration à appliquer.")
        click.echo("Base de données prête.")

    @app.cli.command("demo-data")
    @click.option("--scale", type=int, default=None,
                  help="Charger le jeu de données national de N conducteurs (PostgreSQL), au lieu de la démonstration.")
    def demo_data_command(scale):
        """Load the demo data set (idempotent), or the national-scale one with --scale N."""
        from services import dataset, demo

        if app.config["HUBPRO_ENV"] == "production":
            raise click.ClickException(
                "Refusé en production (HUBPRO_ENV=production) : les données de démonstration ont des mots de passe publics."
            )
        if scale is None:
            for line in demo.load():
                click.echo(line)
            return
        try:
            seconds = dataset.load(scale, echo=click.echo)
        except dataset.DatasetError as error:
            raise click.ClickException(str(error))
        click.echo(f"Jeu de données de {scale} conducteurs chargé en {seconds:.0f} s "
                   f"(mot de passe de chaque compte : {dataset.BENCH_PASSWORD}).")

    @app.cli.command("create-staff")
    @click.argument("email")
    @click.option("--role", type=click.Choice(["local-admin", "agent"]), default="local-admin")
    @click.option("--first-name", default="")
    @click.option("--last-name", default="")
    def create_staff_command(email, role, first_name, last_name):
        """Create a staff account and e-mail its activation link."""
        from services import staff

        with db.atomic():
            member = staff.create(email, role.replace("-", "_"), first_name, last_name, created_by=None)
        click.echo(f"Compte {member.role_label} créé pour {member.email} ; lien d'activation envoyé (boîte d'envoi).")

    @app.cli.command("sirene-load")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    def sirene_load_command(path):
        """Load a CSV in INSEE's StockEtablissement layout into the local Sirene registry."""
        from services import sirene

        with open(path, encoding="utf-8-sig") as handle:
            count = sirene.load_csv(handle)
        click.echo(f"{count} établissement(s) chargé(s) dans le registre Sirene local.")
