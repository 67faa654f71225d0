"""Versioned schema migrations: numbered modules applied once each, in order, recorded in `schema_migration`.

Each module `NNNN_what_it_does.py` defines `upgrade(db, migrator)`; `migrator` is playhouse.migrate's
SchemaMigrator for the database, so a migration reads the same on SQLite and PostgreSQL, e.g.::

    from peewee import CharField
    from playhouse.migrate import migrate

    def upgrade(db, migrator):
        migrate(migrator.add_column("user", "nickname", CharField(default="")))

`0001_initial` is the schema as it stood when migrations began, frozen as SQL for both databases.
tests/test_migrations.py builds a database from the migrations and compares it with one built from the models:
a model changed without its migration fails the suite.
"""
import datetime as dt
import importlib
import os
import re

from peewee import CharField, DateTimeField, Model
from playhouse.migrate import SchemaMigrator

FOLDER = os.path.dirname(__file__)
NAME = re.compile(r"^(\d{4})_\w+\.py$")


class SchemaMigration(Model):
    """A migration applied to this database, and when."""

    name = CharField(unique=True)
    applied_at = DateTimeField()

    class Meta:
        table_name = "schema_migration"


def available():
    """Return the names of the migration modules, in the order they apply."""
    return sorted(name[:-3] for name in os.listdir(FOLDER) if NAME.match(name))


def applied(database):
    """Return the names of the migrations this database has applied."""
    with SchemaMigration.bind_ctx(database):
        if not database.table_exists(SchemaMigration._meta.table_name):
            return set()
        return {row.name for row in SchemaMigration.select(SchemaMigration.name)}


def upgrade(database, adopt=None):
    """Apply the migrations this database lacks, each in its own transaction; return their names.

    A database created before migrations existed (tables but no `schema_migration`) is adopted: `adopt(database)`
    brings it up to the first migration's schema, which is then recorded as applied without running.
    """
    with SchemaMigration.bind_ctx(database):
        existing = database.table_exists("user") and not database.table_exists(SchemaMigration._meta.table_name)
        database.create_tables([SchemaMigration], safe=True)
        done = applied(database)
        names = available()
        if existing and names and names[0] not in done:
            with database.atomic():
                if adopt is not None:
                    adopt(database)
                SchemaMigration.create(name=names[0], applied_at=_now())
            done.add(names[0])
        migrator = SchemaMigrator.from_database(database)
        ran = []
        for name in names:
            if name in done:
                continue
            module = importlib.import_module(f"{__name__}.{name}")
            with database.atomic():
                module.upgrade(database, migrator)
                SchemaMigration.create(name=name, applied_at=_now())
            ran.append(name)
        return ran


def _now():
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
