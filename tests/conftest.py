"""Fixtures: app, client, runner, logged-in helpers, factories, a movable clock, an SMTP server."""
import datetime as dt
import os
import re

import pytest
from flask import g
from flask.testing import FlaskClient

from app import create_app
from models import MODELS, InvoiceSequence, Procedure, PROCEDURES, db
from models import clock as clock_module, counters, migrations, search

TEST_PASSWORD = "Correct-Horse-42!"


def _database_url(tmp_path_factory):
    return os.environ.get("DATABASE_URL") or "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """Create the schema once per run through the migrations, on SQLite or on the DATABASE_URL database."""
    url = _database_url(tmp_path_factory)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "test", "HUBPRO_ENV": "test"})
    with app.app_context():
        db.connect(reuse_if_open=True)
        with migrations.SchemaMigration.bind_ctx(db.obj):
            db.drop_tables([*MODELS, migrations.SchemaMigration], safe=True, cascade="Postgres" in type(db.obj).__name__)
        migrations.upgrade(db.obj)
        counters.install(db)
        search.install(db)
        db.close()
    return url


def empty_database():
    """Remove every row and restart the identifiers, then add the procedures."""
    if "Postgres" in type(db.obj).__name__:
        tables = ", ".join(f'"{m._meta.table_name}"' for m in MODELS)
        db.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    else:
        db.execute_sql("PRAGMA foreign_keys = OFF")
        for model in reversed(MODELS):
            model.delete().execute()
        db.execute_sql("DELETE FROM sqlite_sequence") if db.table_exists("sqlite_sequence") else None
        db.execute_sql("PRAGMA foreign_keys = ON")
    for code, name in PROCEDURES:
        Procedure.create(code=code, name=name)
    InvoiceSequence.create(id=1, last_number=0)


def make_config(database_url, tmp_path, **overrides):
    config = {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
        "MAIL_SERVER": "",
        "PUBLIC_BASE_URL": "http://localhost",
        "STORAGE_DIR": str(tmp_path / "files"),
        "HUBPRO_ENV": "test",
        # Tests move the clock by days while staff stay logged in; test_sessions.py sets the real limits.
        "STAFF_IDLE_MINUTES": 10**7,
        "STAFF_SESSION_HOURS": 10**6,
        "LOGIN_SLOWDOWN_SECONDS": 0,
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "FORM_RATE_LIMIT": 1000,
        # A cheap hash keeps the suite fast; production uses scrypt (the default).
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
    }
    config.update(overrides)
    return config


@pytest.fixture
def app_config():
    """Override this in a test module to change the configuration."""
    return {}


class FreshClient(FlaskClient):
    """A test client whose requests do not share the test's cached login (flask.g)."""

    def open(self, *args, **kwargs):
        for name in ("_login_user", "admin_search"):
            g.pop(name, None)
        return super().open(*args, **kwargs)


@pytest.fixture
def app(database_url, tmp_path, app_config):
    app = create_app(make_config(database_url, tmp_path, **app_config))
    app.test_client_class = FreshClient
    with app.app_context():
        db.connect(reuse_if_open=True)
        empty_database()
        with app.test_request_context():
            yield app
        if not db.is_closed():
            db.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Clock:
    """A clock tests move forward instead of waiting."""

    def __init__(self, monkeypatch):
        self.offset = dt.timedelta(0)
        real = clock_module.now.__wrapped__ if hasattr(clock_module.now, "__wrapped__") else clock_module.now

        def now():
            return real() + self.offset

        monkeypatch.setattr(clock_module, "now", now)

    def advance(self, **delta):
        self.offset += dt.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


# --- Factories ---------------------------------------------------------------------------------


@pytest.fixture
def make_driver(app):
    """Create a driver account through the real registration; state "active" sets a password too."""
    from models import AccountState, Dossier, User
    from services import accounts, passwords

    counter = {"n": 0}

    def make(state="en_analyse", email=None, **identity):
        counter["n"] += 1
        n = counter["n"]
        data = {
            "email": email or f"conducteur{n}@exemple.fr",
            "last_name": "Martin",
            "first_name": f"Paul{n}",
            "birth_date": dt.date(1991, 8, 19),
            "birth_place": "Lille",
            "birth_country": "France",
            "licence_number": f"13AA{n:05d}",
            "mobile": "+33612345678",
            "address": "12 rue des Lilas",
            "address_extra": "",
            "postal_code": "59000",
            "city": "Lille",
        }
        data.update(identity)
        user = accounts.register_driver(data, app.config["DRIVER_CONSENTS"])
        if state in ("conforme", "active"):
            Dossier.update(state=AccountState.CONFORME).where(Dossier.user == user).execute()
        if state == "active":
            User.update(password_hash=passwords.hash_password(TEST_PASSWORD)).where(User.id == user.id).execute()
            Dossier.update(state=AccountState.ACTIVE).where(Dossier.user == user).execute()
        if state == "a_corriger":
            Dossier.update(state=AccountState.A_CORRIGER).where(Dossier.user == user).execute()
        return User.get_by_id(user.id)

    return make


@pytest.fixture
def make_staff(app):
    """Create an active staff member with a password, habilitated for the given procedure codes."""
    from models import Habilitation, Procedure, Staff, StaffRole
    from services import passwords

    counter = {"n": 0}

    def make(role=StaffRole.AGENT, procedures=(), manages_files=False, email=None):
        counter["n"] += 1
        member = Staff.create(
            email=email or f"agent{counter['n']}@ingroupe.fr",
            role=role,
            first_name="Agent",
            last_name=f"N{counter['n']}",
            manages_files=manages_files,
            password_hash=passwords.hash_password(TEST_PASSWORD),
        )
        for code in procedures:
            Habilitation.create(staff=member, procedure=Procedure.by_code(code))
        return member

    return make


@pytest.fixture
def login_staff(client):
    def login(member, password=TEST_PASSWORD):
        return client.post("/admin/connexion", data={"email": member.email, "password": password})

    return login


@pytest.fixture
def login_user(client):
    def login(user, password=TEST_PASSWORD):
        return client.post("/connexion", data={"email": user.email, "password": password})

    return login


@pytest.fixture
def sirene_rows(app):
    """Load the sample Sirene registry shipped with the repository."""
    from services import demo, sirene

    with open(demo.SAMPLE_CSV, encoding="utf-8") as handle:
        sirene.load_csv(handle)


def outbox_links(message):
    """Return the links of a queued message's text body."""
    return re.findall(r"https?://\S+", message.body_text)


def last_email(to):
    from models import OutboxMessage

    return (
        OutboxMessage.select()
        .where(OutboxMessage.recipient == to, OutboxMessage.channel == "email")
        .order_by(OutboxMessage.id.desc())
        .first()
    )


def path_of(link):
    """Turn an e-mailed absolute link into a path the test client can open."""
    return re.sub(r"^https?://[^/]+", "", link)


def driver_form(**overrides):
    """Return the fields of a valid « Particulier » account form, as a browser posts them."""
    data = {
        "last_name": "Martin",
        "first_name": "Anne",
        "birth_date-day": "19",
        "birth_date-month": "08",
        "birth_date-year": "1991",
        "birth_place": "Lille",
        "birth_country": "France",
        "licence_number": "13AA00002",
        "mobile": "06 12 34 56 78",
        "address": "12 rue des Lilas",
        "address_extra": "",
        "postal_code": "59000",
        "city": "Lille",
        "email": "anne.martin@exemple.fr",
        "email_confirm": "anne.martin@exemple.fr",
        "consent_cgu": "y",
        "consent_rgpd": "y",
        "consent_cgv": "y",
        "consent_exactitude": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}
