"""The schema built by the migrations is the schema the models declare: a model changed without its migration
fails here, on SQLite and on PostgreSQL."""
import os

from peewee import CharField, PostgresqlDatabase, SqliteDatabase

from models import MODELS, User
from models import migrations

POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")


def _database(tmp_path, name):
    """A database of its own: a file on SQLite, a schema of the test database on PostgreSQL."""
    if not POSTGRES:
        return SqliteDatabase(str(tmp_path / f"{name}.sqlite3"), pragmas={"foreign_keys": 1}), None
    url = os.environ["DATABASE_URL"].split("://", 1)[1]
    credentials, _, rest = url.rpartition("@")
    host_port, _, dbname = rest.partition("/")
    host, _, port = host_port.partition(":")
    admin = PostgresqlDatabase(dbname, user=credentials.split(":")[0] or "postgres", host=host, port=int(port or 5432))
    admin.execute_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    admin.execute_sql(f'CREATE SCHEMA "{name}"')
    admin.close()
    database = PostgresqlDatabase(dbname, user=credentials.split(":")[0] or "postgres", host=host,
                                  port=int(port or 5432), options=f"-c search_path={name},public")
    return database, name


def schema_of(database, schema):
    """Return what a person would compare: each table's columns (type, nullable), indexes and foreign keys."""
    kwargs = {"schema": schema} if schema else {}
    found = {}
    for table in database.get_tables(**kwargs):
        if table == migrations.SchemaMigration._meta.table_name:
            continue
        found[table] = {
            "columns": {c.name: (c.data_type.lower().split("(")[0], c.null) for c in database.get_columns(table, **kwargs)},
            "indexes": {i.name: (tuple(i.columns), i.unique) for i in database.get_indexes(table, **kwargs)},
            "foreign_keys": sorted((k.column, k.dest_table, k.dest_column) for k in database.get_foreign_keys(table, **kwargs)),
        }
    return found


def _from_models(tmp_path, name, models=MODELS):
    database, schema = _database(tmp_path, name)
    with database.bind_ctx(models):
        database.create_tables(models)
    return schema_of(database, schema)


def _from_migrations(tmp_path, name):
    database, schema = _database(tmp_path, name)
    applied = migrations.upgrade(database)
    assert applied == migrations.available()
    assert migrations.upgrade(database) == []  # applied once
    return schema_of(database, schema)


def test_the_migrations_build_the_schema_the_models_declare(tmp_path):
    built = _from_migrations(tmp_path, "mig_migrations")
    declared = _from_models(tmp_path, "mig_models")
    assert sorted(built) == sorted(declared)
    for table in declared:
        assert built[table] == declared[table], table


def test_a_model_changed_without_its_migration_is_caught(tmp_path, monkeypatch):
    built = _from_migrations(tmp_path, "mig_changed_a")
    nickname = CharField(default="")
    User._meta.add_field("nickname", nickname)
    try:
        declared = _from_models(tmp_path, "mig_changed_b")
    finally:
        User._meta.remove_field("nickname")
    assert "nickname" in declared["user"]["columns"] and "nickname" not in built["user"]["columns"]


def test_a_database_made_before_migrations_is_adopted_without_losing_a_row(tmp_path):
    database, schema = _database(tmp_path, "mig_adopted")
    with database.bind_ctx(MODELS):
        database.create_tables(MODELS)
        User.create(email="ancien@exemple.fr", role="driver", last_name="A", first_name="B")
        assert migrations.upgrade(database, adopt=lambda d: None) == migrations.available()[1:]
        assert User.select().count() == 1
    assert migrations.applied(database) == set(migrations.available())
