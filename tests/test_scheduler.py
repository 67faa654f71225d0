"""One scheduler at a time (issue 13): the lock, the takeover when its holder dies, each run recorded, the heartbeat,
and « Suivi › Tâches planifiées »."""
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from models import JobRun, SchedulerHeartbeat, StaffRole, Token, TokenPurpose
from models import clock as clock_module
from services import scheduler, tokens
from services.formatting import datetime_fr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- Two `flask jobs run` processes on the test database ------------------------------------------------------


def start_scheduler(database_url, tmp_path, name):
    """Start `flask jobs run` as its own process, every job every second; return (process, its output file)."""
    output = tmp_path / f"{name}.log"
    env = {
        **os.environ,
        "FLASK_APP": "app.py",
        "DATABASE_URL": database_url,
        "HUBPRO_ENV": "test",
        "SECRET_KEY": "test-secret",
        "STORAGE_DIR": str(tmp_path / "files"),
        "MAIL_SERVER": "",
        "JOBS_EVERY_SECONDS": "1",
        "JOBS_LOCK_RETRY_SECONDS": "1",
        "JOBS_HEARTBEAT_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    with open(output, "w") as handle:
        process = subprocess.Popen([flask, "jobs", "run"], cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    return process, output


def node_of(process):
    """Return how a scheduler process names itself in the runs and the heartbeat."""
    return f"{scheduler.node_name().rsplit(':', 1)[0]}:{process.pid}"


def wait_for(condition, seconds, what):
    """Poll a condition twice a second; fail naming what did not happen in time."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(0.5)
    pytest.fail(f"{what} : rien après {seconds} s")


def holder():
    heartbeat = SchedulerHeartbeat.current()
    return heartbeat.node if heartbeat else None


def runs_per_job(node):
    """Return {job: finished runs} of one node."""
    return {name: JobRun.select().where(JobRun.job == name, JobRun.node == node, JobRun.ended_at.is_null(False)).count()
            for name in scheduler.SCHEDULE}


def test_one_of_two_schedulers_runs_the_jobs_and_the_other_takes_over_when_it_is_killed(app, database_url, tmp_path):
    first, first_log = start_scheduler(database_url, tmp_path, "premier")
    processes = [first]
    try:
        wait_for(lambda: holder() == node_of(first), 60, "le premier planificateur prend le verrou")
        second, second_log = start_scheduler(database_url, tmp_path, "second")
        processes.append(second)
        wait_for(lambda: "en attente" in second_log.read_text(), 60, "le second attend le verrou")
        wait_for(lambda: min(runs_per_job(node_of(first)).values()) >= 3, 60, "chaque tâche tourne sur le premier")
        assert JobRun.select().where(JobRun.node == node_of(second)).count() == 0
        assert holder() == node_of(first)

        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = time.monotonic()
        taken_at = wait_for(lambda: holder() == node_of(second), 60, "le second reprend la main")
        assert taken_at - killed_at < 60
        wait_for(lambda: min(runs_per_job(node_of(second)).values()) >= 3, 60, "chaque tâche tourne sur le second")
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    second_output = second_log.read_text()
    assert second_output.index("en attente") < second_output.index("verrou obtenu")
    nodes = {node_of(first), node_of(second)}
    assert {run.node for run in JobRun.select()} == nodes
    first_runs_end = max(run.started_at for run in JobRun.select().where(JobRun.node == node_of(first)))
    second_runs_start = min(run.started_at for run in JobRun.select().where(JobRun.node == node_of(second)))
    assert first_runs_end < second_runs_start
    for name in scheduler.SCHEDULE:
        runs = list(JobRun.select().where(JobRun.job == name).order_by(JobRun.started_at))
        # Every run recorded once, by one process at a time: no run starts before the previous one ended.
        for previous, run in zip(runs, runs[1:]):
            assert previous.ended_at is not None or previous.node == node_of(first), (name, previous.node)
            assert previous.ended_at is None or previous.ended_at <= run.started_at, name
        # Each process ran the job at most once per second it held the lock (nothing doubled).
        for node in nodes:
            mine = [run for run in runs if run.node == node]
            held = (mine[-1].started_at - mine[0].started_at).total_seconds()
            assert len(mine) <= held + 2, (name, node, len(mine), held)
        # The stopped process let its runs end; none failed.
        assert all(run.ended_at and run.error == "" and run.changed == 0 for run in runs if run.node == node_of(second))


def test_the_lock_is_held_by_one_holder_at_a_time(app):
    first, second = scheduler.lock_for(app), scheduler.lock_for(app)
    try:
        assert first.acquire() and first.held()
        assert not second.acquire()
        first.release()
        assert second.acquire()
        assert not first.acquire()
    finally:
        second.release()
        first.release()
    expected = scheduler.AdvisoryLock if app.config["DATABASE_URL"].startswith("postgres") else scheduler.FileLock
    assert isinstance(first, expected)


# --- Each run recorded -----------------------------------------------------------------------------------------


def test_a_run_records_the_rows_it_changed(runner, make_driver, clock):
    tokens.issue(TokenPurpose.CREATE_PASSWORD, user=make_driver())
    clock.advance(days=40)
    assert "'purged': 1" in runner.invoke(args=["jobs", "run-once", "links"]).output
    run = JobRun.get(JobRun.job == "links")
    assert run.changed == 1 and run.error == "" and run.ended_at >= run.started_at
    assert run.node.endswith("(à la main)") and Token.select().count() == 0


def test_a_failed_run_records_its_error(runner, monkeypatch):
    from jobs import links

    def broken():
        raise RuntimeError("serveur injoignable")

    monkeypatch.setattr(links, "run", broken)
    assert runner.invoke(args=["jobs", "run-once", "links"]).exit_code != 0
    run = JobRun.get(JobRun.job == "links")
    assert run.error == "RuntimeError: serveur injoignable"
    assert run.ended_at is not None and run.changed is None
    assert JobRun.last_success("links") is None


def test_a_report_counts_the_rows_of_each_kind():
    assert scheduler.changed_rows({"sent": 2, "kept": 1, "failed": 0}) == 3
    assert scheduler.changed_rows(4) == 4
    assert scheduler.changed_rows(None) == 0


def test_every_job_has_a_label_and_a_period():
    from jobs import registry

    assert set(registry()) == set(scheduler.SCHEDULE)
    assert all(label and seconds > 0 for label, seconds in scheduler.SCHEDULE.values())


# --- The heartbeat ---------------------------------------------------------------------------------------------


def test_the_heartbeat_is_fresh_until_its_maximum_age(app, clock):
    assert not scheduler.is_alive()
    since = clock_module.now()
    scheduler.beat("web-1:42", since)
    assert scheduler.is_alive() and SchedulerHeartbeat.current().since == since
    clock.advance(seconds=app.config["JOBS_HEARTBEAT_MAX_AGE"] + 1)
    assert not scheduler.is_alive()


def test_the_heartbeat_purges_the_runs_past_their_keeping(app, clock):
    JobRun.create(job="outbox", node="web-1:42")
    clock.advance(days=31)
    recent = JobRun.create(job="outbox", node="web-1:42")
    assert scheduler.beat("web-1:42", clock_module.now()) == 1
    assert [run.id for run in JobRun.select()] == [recent.id]


# --- « Suivi › Tâches planifiées » ----------------------------------------------------------------------------


def job_row(page, name):
    """Return the row of a job in the page's table of job states."""
    table = page.split('id="job-states"', 1)[1].split("</table>", 1)[0]
    return next(row for row in re.findall(r"<tr.*?</tr>", table, re.S) if f"({name})" in row)


def test_the_job_runs_page_lists_runs_and_flags_a_late_job(client, make_staff, login_staff, clock):
    now = clock_module.now()
    JobRun.create(job="outbox", node="web-1:4242", started_at=now - dt.timedelta(seconds=5),
                  ended_at=now - dt.timedelta(seconds=4), changed=3)
    # The invoices run once a day: a last success 3 days ago is late; its last run failed.
    JobRun.create(job="invoices", node="web-2:5151", started_at=now - dt.timedelta(days=3),
                  ended_at=now - dt.timedelta(days=3), changed=0)
    JobRun.create(job="invoices", node="web-2:5151", started_at=now - dt.timedelta(hours=1),
                  ended_at=now - dt.timedelta(hours=1), error="OperationalError: base injoignable")
    scheduler.beat("web-1:4242", now - dt.timedelta(hours=2))
    login_staff(make_staff(role=StaffRole.LOCAL_ADMIN))

    page = client.get("/admin/job_runs/").get_data(as_text=True)
    assert "Planificateur actif sur <code>web-1:4242</code>" in page
    assert "En retard" in job_row(page, "invoices") and "table-warning" in job_row(page, "invoices")
    assert "À jour" in job_row(page, "outbox") and datetime_fr(now - dt.timedelta(seconds=4)) in job_row(page, "outbox")
    assert "En retard" in job_row(page, "links") and "aucune" in job_row(page, "links")
    assert "tâche(s) en retard" in page
    assert "web-2:5151" in page and "OperationalError: base injoignable" in page and "Échec" in page

    clock.advance(minutes=5)
    page = client.get("/admin/job_runs/").get_data(as_text=True)
    assert "Planificateur arrêté" in page and "En retard" in job_row(page, "outbox")


def test_the_job_runs_page_is_for_local_administrators(client, make_staff, login_staff, make_driver, login_user):
    login_staff(make_staff(procedures=["COMPTE_PARTICULIER"]))
    assert client.get("/admin/job_runs/").status_code == 403
    client.post("/admin/deconnexion")
    login_user(make_driver(state="active"))
    assert client.get("/admin/job_runs/").status_code == 403
