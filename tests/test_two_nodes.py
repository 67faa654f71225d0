"""Two web nodes and two schedulers on one PostgreSQL and one S3-compatible server (issue 13): a driver's request
with its uploads goes alternately through both nodes, each reads what the other stored; the scheduler holding the
lock is killed, the other takes over, and every sweep ran once at a time."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from models import Dossier, Document, JobRun, Procedure, RequestState
from services import procedures, scheduler
from tests.conftest import TEST_PASSWORD
from tests.driver_data import JPEG, PDF, PNG, make_centre, record
from tests.test_scheduler import holder, node_of, wait_for
from tests.test_storage import KEYS, bucket, s3, s3_server  # noqa: F401 (fixtures)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)

if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
    pytest.skip("plusieurs machines supposent PostgreSQL (le verrou consultatif)", allow_module_level=True)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def node_env(database_url, s3_server, bucket, tmp_path):  # noqa: F811
    """What every machine is given: the same database, bucket and secret; nothing on its own disk is shared."""
    return {
        **os.environ, "DATABASE_URL": database_url, "HUBPRO_ENV": "test", "SECRET_KEY": "deux-machines",
        "STORAGE_BACKEND": "s3", "S3_ENDPOINT_URL": s3_server, "S3_BUCKET": bucket, **KEYS,
        "MAIL_SERVER": "", "LOGIN_RATE_LIMIT": "1000 per minute", "PYTHONUNBUFFERED": "1",
        "JOBS_EVERY_SECONDS": "1", "JOBS_LOCK_RETRY_SECONDS": "1", "JOBS_HEARTBEAT_SECONDS": "1",
    }


@pytest.fixture
def cluster(node_env, tmp_path):
    """Start two gunicorn nodes (each its own instance folder) and two schedulers; stop them all afterwards."""
    processes, nodes = {}, []
    for name in ("web1", "web2"):
        port = _free_port()
        env = {**node_env, "STORAGE_DIR": str(tmp_path / name / "files"), "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
        log = open(tmp_path / f"{name}.log", "w")
        processes[name] = subprocess.Popen(
            [os.path.join(BIN, "gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}", "app:create_app()"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        nodes.append(f"http://127.0.0.1:{port}")
    for name in ("jobs1", "jobs2"):
        log = open(tmp_path / f"{name}.log", "w")
        env = {**node_env, "FLASK_APP": "app.py", "STORAGE_DIR": str(tmp_path / name / "files")}
        processes[name] = subprocess.Popen([os.path.join(BIN, "flask"), "jobs", "run"], cwd=ROOT, env=env, stdout=log,
                                           stderr=subprocess.STDOUT)
        if name == "jobs1":
            wait_for(lambda: holder() == node_of(processes["jobs1"]), 60, "le premier planificateur prend le verrou")
    for url in nodes:
        wait_for(lambda url=url: _answers(url), 60, f"{url} répond")
    try:
        yield nodes, processes
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def _answers(url):
    try:
        return requests.get(url + "/connexion", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def _token(session, url):
    """Return the CSRF token of a page, as a browser would send it back."""
    page = session.get(url, timeout=10).text
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"', page).group(1)


def test_a_request_goes_through_two_nodes_and_a_killed_scheduler_is_replaced(cluster, make_driver, s3, bucket):  # noqa: F811
    (one, two), processes = cluster
    driver = make_driver(state="active")
    record(make_centre(), driver)
    browser = requests.Session()  # one cookie jar: a load balancer sends the same browser to either node
    login = browser.post(one + "/connexion", allow_redirects=False, timeout=10, data={
        "email": driver.email, "password": TEST_PASSWORD, "csrf_token": _token(browser, one + "/connexion")})
    assert login.status_code == 302
    started = browser.post(two + "/mes-demandes/cqc", allow_redirects=False, timeout=10,
                           data={"csrf_token": _token(browser, two + "/mes-demandes/")})
    assert started.status_code == 302
    dossier = Dossier.select().join(Procedure).where(Procedure.code == "CQC").order_by(Dossier.id.desc()).get()
    posts = {
        "identite": ({"identity_confirmed": "y"}, None),
        "photo": ({}, ("photo.jpg", JPEG, "image/jpeg")),
        "signature": ({}, ("signature.png", PNG, "image/png")),
        "piece_identite": ({}, ("carte.pdf", PDF, "application/pdf")),
        "adresse": ({"delivery_name": "Paul MARTIN", "delivery_address": "3 place du Général de Gaulle",
                     "delivery_address_extra": "", "delivery_postal_code": "59800", "delivery_city": "Lille"}, None),
        "recapitulatif": ({"action": "valider"}, None),
    }
    for n, step in enumerate(procedures.get("CQC").step_names):
        node = (one, two)[n % 2]
        url = f"{node}/mes-demandes/{dossier.id}/etapes/{step}"
        fields, upload = posts[step]
        response = browser.post(url, allow_redirects=False, timeout=30,
                                data={"action": "suivant", **fields, "csrf_token": _token(browser, url)},
                                files={"document": upload} if upload else None)
        assert response.status_code == 302, (step, node, response.text[:2000])
    assert Dossier.get_by_id(dossier.id).state == RequestState.ENVOYEE

    # Each document is in the bucket and reads back through either node, whichever stored it.
    in_bucket = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    for document in Document.select().where(Document.dossier == dossier):
        assert document.path in in_bucket
        for node in (one, two):
            shown = browser.get(f"{node}/mes-demandes/{dossier.id}/documents/{document.id}", timeout=10)
            assert shown.status_code == 200 and shown.content in (JPEG, PNG, PDF)

    # The scheduler holding the lock dies: the other one takes over within a minute.
    first, second = processes["jobs1"], processes["jobs2"]
    wait_for(lambda: min(_runs(node_of(first)).values()) >= 2, 60, "chaque tâche tourne sur le premier")
    assert JobRun.select().where(JobRun.node == node_of(second)).count() == 0
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = time.monotonic()
    taken_at = wait_for(lambda: holder() == node_of(second), 60, "le second planificateur reprend la main")
    assert taken_at - killed_at < 60
    wait_for(lambda: min(_runs(node_of(second)).values()) >= 2, 60, "chaque tâche tourne sur le second")
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=30)
    for name in scheduler.SCHEDULE:
        runs = list(JobRun.select().where(JobRun.job == name).order_by(JobRun.started_at))
        for previous, run in zip(runs, runs[1:]):
            # One process at a time: a run starts after the previous one ended (or its process was killed).
            assert previous.ended_at is None and previous.node == node_of(first) or previous.ended_at <= run.started_at


def _runs(node):
    return {name: JobRun.select().where(JobRun.job == name, JobRun.node == node, JobRun.ended_at.is_null(False)).count()
            for name in scheduler.SCHEDULE}
