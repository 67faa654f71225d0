"""The tamper-evident audit log: a hash chain, `flask audit verify`, the daily hash e-mailed, no fork under concurrency."""
import threading

import pytest

from models import AuditChain, AuditLog, OutboxMessage, db
from services import audit, audit_chain
from tests.conftest import last_email


@pytest.fixture
def app_config():
    return {"AUDIT_HASH_RECIPIENT": "scelles@ingroupe.fr"}


def write_lines(count, prefix="Action"):
    return [audit.record(f"{prefix} {n}", f"cible {n}", "détail") for n in range(count)]


def verify(runner, *args):
    result = runner.invoke(args=["audit", "verify", *args])
    return result.exit_code, result.output


def test_each_line_names_the_previous_hash_and_the_chain_verifies(runner):
    lines = write_lines(5)
    rows = list(AuditLog.select().order_by(AuditLog.id))
    assert rows[0].prev_hash == "" and all(r.row_hash for r in rows)
    assert [r.prev_hash for r in rows[1:]] == [r.row_hash for r in rows[:-1]]
    head = AuditChain.get_by_id(1)
    assert (head.last_id, head.last_hash) == (lines[-1].id, rows[-1].row_hash)
    code, output = verify(runner)
    assert code == 0 and "Journal d'audit intègre : 5 ligne(s) vérifiée(s)" in output


def test_an_edited_line_is_named(runner):
    lines = write_lines(5)
    AuditLog.update(detail="effacé discrètement").where(AuditLog.id == lines[2].id).execute()
    code, output = verify(runner)
    assert code == 1 and f"La ligne n° {lines[2].id}" in output and "a été modifiée" in output


def test_a_changed_actor_is_an_edited_line(runner, make_driver):
    driver, other = make_driver(), make_driver()
    line = audit.record("Connexion", driver.email, user=driver)
    write_lines(1)
    AuditLog.update(user=other.id).where(AuditLog.id == line.id).execute()
    code, output = verify(runner)
    assert code == 1 and f"La ligne n° {line.id}" in output


def test_an_edited_line_whose_hash_was_recomputed_breaks_the_link_to_the_next(runner):
    lines = write_lines(5)
    row = AuditLog.get_by_id(lines[1].id)
    row.detail = "réécrit"
    AuditLog.update(detail=row.detail, row_hash=audit_chain.line_hash(row, row.prev_hash)).where(
        AuditLog.id == row.id).execute()
    code, output = verify(runner)
    assert code == 1 and f"Chaîne rompue avant la ligne n° {lines[2].id}" in output


def test_a_deleted_line_is_found(runner):
    lines = write_lines(5)
    AuditLog.delete().where(AuditLog.id == lines[2].id).execute()
    code, output = verify(runner)
    assert code == 1 and f"Chaîne rompue avant la ligne n° {lines[3].id}" in output
    assert f"(n° {lines[1].id})" in output


def test_deleted_last_lines_are_found(runner):
    lines = write_lines(4)
    AuditLog.delete().where(AuditLog.id >= lines[2].id).execute()
    code, output = verify(runner)
    assert code == 1 and f"devrait être la n° {lines[3].id}" in output and f"s'arrête à la n° {lines[1].id}" in output


def test_a_line_written_around_the_chain_is_found(runner):
    write_lines(3)
    forged = AuditLog.create(action="Ajout direct", target="x")
    code, output = verify(runner)
    assert code == 1 and f"ligne n° {forged.id}" in output


def test_lines_written_before_the_chain_began_stay_outside_it(runner):
    legacy = [AuditLog.create(action=f"Avant la chaîne {n}") for n in range(2)]
    AuditChain.delete().execute()
    write_lines(3)
    assert AuditChain.get_by_id(1).anchor_id == legacy[-1].id
    code, output = verify(runner)
    assert code == 0 and "3 ligne(s) vérifiée(s)" in output and "2 ligne(s) antérieure(s) hors de la chaîne" in output


def test_concurrent_writers_never_fork_the_chain(app, runner):
    """Eight threads, each with its own connection, write at once: every line names a different previous hash."""
    errors = []

    def writer(n):
        try:
            with app.app_context():
                db.connect(reuse_if_open=True)
                try:
                    for k in range(10):
                        audit.record(f"Écrivain {n}", f"ligne {k}")
                finally:
                    db.close()
        except Exception as error:  # the assertion below shows it
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = list(AuditLog.select().order_by(AuditLog.id))
    assert len(rows) == 80 and len({r.prev_hash for r in rows}) == 80
    code, output = verify(runner)
    assert code == 0, output


def test_the_day_s_last_hash_is_e_mailed_once_and_proves_the_chain(runner, clock):
    write_lines(3)
    clock.advance(days=1)
    write_lines(2, prefix="Le lendemain")
    assert "audit_hash : 1" in runner.invoke(args=["jobs", "run-once", "audit_hash"]).output
    message = last_email("scelles@ingroupe.fr")
    day_end = AuditLog.select().where(AuditLog.action == "Action 2").get()
    assert day_end.row_hash in message.body_text and f"n° {day_end.id}" in message.body_text
    assert "audit_hash : 0" in runner.invoke(args=["jobs", "run-once", "audit_hash"]).output
    assert OutboxMessage.select().where(OutboxMessage.recipient == "scelles@ingroupe.fr").count() == 1
    assert verify(runner, "--empreinte", day_end.row_hash)[0] == 0
    code, output = verify(runner, "--empreinte", "0" * 64)
    assert code == 1 and "ne figure pas dans la chaîne" in output


def test_retention_erases_old_lines_from_the_start_and_the_chain_still_verifies(runner, clock):
    old = write_lines(3, prefix="Ancienne")
    clock.advance(days=365 * 5 + 3)
    recent = write_lines(2, prefix="Récente")
    limit = recent[0].at - (recent[0].at - old[-1].at) / 2
    assert audit_chain.prune(limit) == 3
    assert audit_chain.prune(limit) == 0
    head = AuditChain.get_by_id(1)
    assert head.anchor_id == old[-1].id and head.anchor_hash == old[-1].row_hash
    code, output = verify(runner)
    assert code == 0 and "2 ligne(s) vérifiée(s)" in output
    AuditLog.delete().where(AuditLog.id == recent[0].id).execute()
    assert verify(runner)[0] == 1
