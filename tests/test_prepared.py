"""Prepared queries (issue 10): SQL written once, the right rows for every value, on SQLite and PostgreSQL."""
import os

import pytest

from models import Dossier, Notification, Procedure, User, clock, db
from models.prepared import prepared


@prepared
def _notifications_of(user_ids, unread_only):
    query = Notification.select().where(Notification.user.in_(user_ids)).order_by(Notification.id)
    return query.where(Notification.read_at.is_null()) if unread_only else query


def test_rows_match_the_orm_for_every_value_and_shape(app, make_driver):
    drivers = [make_driver(state="active") for _ in range(3)]
    for index, driver in enumerate(drivers):
        for n in range(index + 1):
            Notification.create(user=driver, message=f"{driver.id}-{n}", read_at=clock.now() if n == 1 else None)
    # Twice: the second time, peewee reads the rows from what it worked out of the first execution's columns.
    for ids in ([drivers[0].id], [drivers[1].id, drivers[2].id], [], [drivers[2].id]) * 2:
        for unread_only in (False, True):
            expected = Notification.select().where(Notification.user.in_(ids)).order_by(Notification.id)
            if unread_only:
                expected = expected.where(Notification.read_at.is_null())
            assert [n.message for n in _notifications_of.rows(ids, unread_only)] == [n.message for n in expected]
    # Each (number of ids, flag) is written once; the values themselves change nothing.
    assert len(_notifications_of.shapes) == 6


@prepared
def _files_of(user_id):
    return Dossier.select(Dossier, Procedure).join(Procedure).where(Dossier.user == user_id).order_by(Dossier.id)


def test_joined_rows_and_scalars_of_the_same_query_read_right_on_every_execution(app, make_driver):
    drivers = [make_driver(state="active"), make_driver()]
    for _ in range(3):
        for driver in drivers:
            expected = [(d.id, d.state, d.procedure.code, d.created_at) for d in _files_of.build(driver.id)]
            rows = _files_of.rows(driver.id)
            assert [(d.id, d.state, d.procedure.code, d.created_at) for d in rows] == expected
            assert not rows[0].is_dirty() and isinstance(rows[0].procedure, Procedure)
            assert _files_of.scalar(driver.id) == expected[0][0]  # the first column of the first row


def test_signed_in_account_and_counts(app, make_driver):
    driver = make_driver(state="active")
    other = make_driver(state="active")
    Notification.create(user=driver, message="un")
    Notification.create(user=driver, message="deux")
    assert User.signed_in(driver.id).email == driver.email
    assert User.signed_in(other.id).email == other.email
    assert User.signed_in(10**9) is None
    assert (Notification.unread_count(driver.id), Notification.unread_count(other.id)) == (2, 0)
    # The menu's badge comes with the account, from the same query.
    assert (User.signed_in(driver.id).unread_notifications, User.signed_in(other.id).unread_notifications) == (2, 0)


def test_an_id_used_outside_the_query_is_refused(app):
    @prepared
    def broken(user_id):
        return User.select().where(User.id == (1 if user_id > 0 else 2))

    with pytest.raises(ValueError, match="paramètre"):
        broken.rows(5)


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="pool PostgreSQL uniquement")
def test_the_pool_pings_a_connection_only_after_it_idled(app, monkeypatch):
    pool = db.obj
    pings = []
    checked = pool._adapter.is_connection_closed
    monkeypatch.setattr(pool._adapter, "is_connection_closed", lambda conn: pings.append(1) or checked(conn))
    db.close()
    db.connect()  # back a moment ago: no round trip
    assert pings == [] and db.execute_sql("SELECT 1").fetchone() == (1,)
    monkeypatch.setattr(pool, "PING_AFTER", 0)
    db.close()
    db.connect()  # idle longer than PING_AFTER: checked as peewee's pool does
    assert pings == [1]
