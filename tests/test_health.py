"""/sante, the load balancer's readiness check (issue 13): 200 when the database, the storage and the scheduler are
well, 503 otherwise, as JSON, open to anyone and naming no one."""
import peewee
import pytest

from models import SchedulerHeartbeat, db
from models import clock as clock_module
from services import storage

ALL_WELL = {"database": True, "storage": True, "scheduler": True}


@pytest.fixture
def scheduler_alive(app):
    """A scheduler that has just written its heartbeat."""
    SchedulerHeartbeat.beat("web-1:4242", clock_module.now())


def test_ready_when_the_database_the_storage_and_the_scheduler_are_well(client, scheduler_alive):
    response = client.get("/sante")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": ALL_WELL}
    assert response.headers["Cache-Control"] == "no-store"
    assert "web-1" not in response.get_data(as_text=True)


def test_it_names_no_one_to_a_logged_in_account(client, scheduler_alive, make_driver, login_user):
    driver = make_driver(state="active")
    login_user(driver)
    response = client.get("/sante")
    assert response.get_json() == {"status": "ok", "checks": ALL_WELL}
    assert driver.email not in response.get_data(as_text=True)


def test_unavailable_when_the_scheduler_has_not_beaten_for_too_long(app, client, scheduler_alive, clock):
    clock.advance(seconds=app.config["JOBS_HEARTBEAT_MAX_AGE"] + 1)
    response = client.get("/sante")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "checks": {**ALL_WELL, "scheduler": False}}


def test_unavailable_when_no_scheduler_ever_ran(client):
    response = client.get("/sante")
    assert response.status_code == 503 and response.get_json()["checks"]["scheduler"] is False


def test_unavailable_when_the_storage_cannot_write(client, scheduler_alive, monkeypatch):
    def full(data, folder, suffix):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage, "store", full)
    response = client.get("/sante")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {**ALL_WELL, "storage": False}


def test_the_storage_probe_leaves_nothing_behind(client, scheduler_alive, monkeypatch):
    kept = []
    real_store = storage.store
    monkeypatch.setattr(storage, "store", lambda *args: kept.append(real_store(*args)) or kept[-1])
    assert client.get("/sante").status_code == 200
    assert kept
    for key in kept:
        with pytest.raises(FileNotFoundError):
            storage.read(key)


def test_unavailable_when_the_database_does_not_answer(client, scheduler_alive, monkeypatch):
    def refused(*args, **kwargs):
        raise peewee.OperationalError("connection refused")

    monkeypatch.setattr(db.obj, "execute_sql", refused)
    response = client.get("/sante")
    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": False, "storage": True, "scheduler": False}


def test_unavailable_when_no_connection_can_be_opened(client, scheduler_alive, monkeypatch):
    def refused(*args, **kwargs):
        raise peewee.OperationalError("too many connections")

    db.close()
    monkeypatch.setattr(db.obj, "connect", refused)
    response = client.get("/sante")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable",
                                   "checks": {"database": False, "storage": True, "scheduler": False}}
