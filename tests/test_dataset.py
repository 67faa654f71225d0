"""The national-scale data set (issue 10): set-based, consistent, usable by the pages; PostgreSQL only."""
import os

import pytest

from models import Card, Dossier, DossierEvent, Driver, Invoice, User
from services import dataset

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith("postgres")


@pytest.mark.skipif(not ON_POSTGRES, reason="jeu de données national : PostgreSQL uniquement (DATABASE_URL)")
def test_the_data_set_loads_consistent_rows_the_pages_use(app, client, runner):
    result = runner.invoke(args=["demo-data", "--scale", "300"])
    assert result.exit_code == 0, result.output
    assert "Jeu de données de 300 conducteurs chargé" in result.output
    drivers = User.select().where(User.role == "driver").count()
    assert drivers == 300 and Driver.select().count() == 300
    files = Dossier.select().count()
    assert 2.5 * drivers < files < 3.5 * drivers
    assert DossierEvent.select().count() > 3 * files - drivers
    assert Card.select().count() > drivers and Invoice.select().exists()
    driver = User.select().where(User.role == "driver").order_by(User.id.desc()).first()
    client.post("/connexion", data={"email": driver.email, "password": dataset.BENCH_PASSWORD})
    for path in ("/", "/mes-demandes/?rubrique=en-cours", "/mes-cartes/", "/mes-factures", "/mes-formations"):
        assert client.get(path).status_code == 200, path
    # The identifiers go on after the data set: the application creates rows as usual.
    assert runner.invoke(args=["demo-data", "--scale", "100"]).exit_code == 0
    assert User.select().where(User.role == "driver").count() == 300 + 100


@pytest.mark.skipif(ON_POSTGRES, reason="le refus ne concerne que SQLite")
def test_sqlite_is_told_the_data_set_needs_postgresql(app, runner):
    result = runner.invoke(args=["demo-data", "--scale", "1000"])
    assert result.exit_code != 0 and "se charge sur PostgreSQL" in result.output
