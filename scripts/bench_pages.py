"""Measure the pages of issue 10 against a bare Flask + peewee page, on the national data set, with wrk.

    createdb -h 127.0.0.1 -U postgres bench
    export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench FLASK_APP=app.py
    .venv/bin/flask init-db && .venv/bin/flask demo-data --scale 1000000
    .venv/bin/python scripts/bench_pages.py [--duration 10] [--runs 3] [--connections 10,50] [--only TEXT,…] [--jobs]

Starts the product and the bare page (scripts/bare_app.py) with gunicorn (2 workers each), logs in as
random drivers and as a staff member, measures each page back to back with the bare page, and prints
one table: req/s, p50, p95, errors, the ratio to the bare page, and the SQL queries the page runs.
--jobs also times each scheduled job's run-once on the same database.
"""
import argparse
import http.cookiejar
import logging
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

STAFF_EMAIL = "bench.staff@ingroupe.fr"
LUA = """
local requests = {%s}
local i = 0
request = function()
  i = i %% #requests + 1
  return wrk.format("GET", requests[i][1], {["Cookie"] = requests[i][2]})
end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
    + summary.errors.timeout
  io.write(string.format("RESULT %%.1f %%.2f %%.2f %%d\\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, errors))
end
"""


def ensure_wrk():
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        return
    sys.exit("wrk manque : sudo apt-get install -y wrk")


def prepare(url):
    """Create the benchmark's staff member if needed; return (driver e-mails, CQC file ids sent, user ids)."""
    from app import create_app
    from models import Dossier, Procedure, ProcedureCode, Staff, StaffRole, User, db
    from services import dataset, passwords

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        db.connect(reuse_if_open=True)
        if not Staff.select().where(Staff.email == STAFF_EMAIL).exists():
            Staff.create(email=STAFF_EMAIL, role=StaffRole.LOCAL_ADMIN, first_name="Bench", last_name="Staff",
                         manages_files=True, password_hash=passwords.hash_password(dataset.BENCH_PASSWORD))
        top = User.select(User.id).order_by(User.id.desc()).first().id
        picks = [random.randint(1, top) for _ in range(400)]
        drivers = [u.email for u in User.select(User.email).join(Dossier).join(Procedure)
                   .where(User.id.in_(picks), User.role == "driver", Procedure.code == ProcedureCode.COMPTE_PARTICULIER,
                          Dossier.state == "active").limit(60)]
        files = [d.id for d in Dossier.select(Dossier.id).join(Procedure)
                 .where(Procedure.code == ProcedureCode.CQC, Dossier.state == "envoyee",
                        Dossier.id.in_([random.randint(1, top * 3) for _ in range(20000)])).limit(40)]
        db.close()
    return drivers, files, picks


def start(command, port, env, log):
    """Start a server with gunicorn (2 workers); its output (the product's JSON line per request) goes to a log file,
    as in production, not through the terminal that reads this table."""
    process = subprocess.Popen(
        [os.path.join(ROOT, ".venv/bin/gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
         command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit(f"le serveur sur le port {port} ne répond pas")


def log_in(base, path, email, password):
    """Return the session cookie of an account, logged in through the real form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + path).read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', page)
    data = {"email": email, "password": password, "csrf_token": next(g for g in token.groups() if g)}
    opener.open(base + path, urllib.parse.urlencode(data).encode())
    cookie = next((c for c in jar if c.name == "session"), None)
    if cookie is None:
        raise RuntimeError(f"connexion impossible pour {email}")
    return f"session={cookie.value}", opener


def wrk(base, requests, connections, duration):
    entries = ",".join('{"%s", "%s"}' % (path.replace('"', '\\"'), cookie) for path, cookie in requests)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % entries)
    output = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", script.name,
                             base], capture_output=True, text=True).stdout
    os.unlink(script.name)
    found = re.search(r"RESULT (\S+) (\S+) (\S+) (\d+)", output)
    return tuple(float(x) for x in found.groups()) if found else (0.0, 0.0, 0.0, -1)


def query_counts(url, pages, driver_email, staff=True):
    """Count the SQL statements each page runs, in process, for one driver and the staff member."""
    from app import create_app
    from models import db
    from services import dataset

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "WTF_CSRF_ENABLED": False, "TESTING": True})
    counts = {}
    logger = logging.getLogger("peewee")
    level = logger.level
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    with app.app_context():
        db.connect(reuse_if_open=True)
        for name, kind, paths in pages:
            client = app.test_client()
            if kind == "driver":
                client.post("/connexion", data={"email": driver_email, "password": dataset.BENCH_PASSWORD})
            else:
                client.post("/admin/connexion", data={"email": STAFF_EMAIL, "password": dataset.BENCH_PASSWORD})
            client.get(paths[0])
            records.clear()
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
            client.get(paths[0])
            logger.removeHandler(handler)
            logger.setLevel(level)  # the jobs timed afterwards must not log every statement
            counts[name] = len(records)
        db.close()
    return counts


def time_jobs(url):
    from app import create_app
    from jobs import registry, run_job

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "MAIL_SERVER": ""})
    print("\n| job | seconds | result |\n|---|---|---|")
    for name in registry():
        started = time.monotonic()
        try:
            result = run_job(app, name)
        except Exception as error:  # a job failing is a result to print, not a reason to stop measuring
            result = f"ERREUR {error}"
        print(f"| {name} | {time.monotonic() - started:.1f} | {result} |")
    print(f"| invoices: numbering this month's contract invoices (rolled back, PDFs apart) | {time_invoicing(app):.1f} | |")


def time_invoicing(app):
    """Time the month's contract invoices without their PDFs, in a transaction rolled back (the data set stays)."""
    from models import clock, db
    from services import invoices

    with app.app_context():
        db.connect(reuse_if_open=True)
        rendering, invoices.render = invoices.render, lambda invoice: invoice
        try:
            with db.atomic() as transaction:
                started = time.monotonic()
                invoices.monthly_contract_invoices(clock.today().replace(day=1))
                seconds = time.monotonic() - started
                transaction.rollback()
        finally:
            invoices.render = rendering
            db.close()
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", default="10,50")
    parser.add_argument("--jobs", action="store_true")
    parser.add_argument("--seed", type=int, default=2026,
                        help="choix des conducteurs et des dossiers tirés au sort : le même d'une mesure à l'autre")
    parser.add_argument("--only", default="",
                        help="ne mesurer que les pages dont le nom contient l'un de ces textes (séparés par des virgules)")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or "bench" not in url:
        sys.exit("DATABASE_URL doit désigner la base PostgreSQL du banc (son nom contient « bench »).")
    ensure_wrk()
    random.seed(args.seed)
    from services import dataset

    drivers, files, user_ids = prepare(url)
    env = {**os.environ, "SECRET_KEY": "bench-secret", "LOGIN_SLOWDOWN_SECONDS": "0", "FORM_RATE_LIMIT": "1000000",
           # The benchmark logs in 41 accounts from one address: past the login limit per address of production.
           "LOGIN_RATE_LIMIT": "100000 per minute"}
    log = open(os.path.join(tempfile.gettempdir(), "bench_pages.log"), "ab")
    print(f"Journaux des serveurs : {log.name}")
    product = start("app:create_app()", 8101, env, log)
    bare = start("scripts.bare_app:create_app()", 8102, env, log)
    try:
        base = "http://127.0.0.1:8101"
        driver_cookies = [log_in(base, "/connexion", email, dataset.BENCH_PASSWORD)[0] for email in drivers[:40]]
        staff_cookie = log_in(base, "/admin/connexion", STAFF_EMAIL, dataset.BENCH_PASSWORD)[0]
        pages = [
            ("driver home", "driver", ["/"]),
            ("« Mes demandes en cours »", "driver", ["/mes-demandes/?rubrique=en-cours"]),
            ("« Mes cartes »", "driver", ["/mes-cartes/"]),
            ("staff: one CQC request page", "staff", [f"/admin/cqc_requests/demande/{i}" for i in files]),
            ("staff: « Comptes à analyser »", "staff", ["/admin/account_queue/"]),
            ("staff: back-office home", "staff", ["/admin/"]),
            ("staff: « Demandes de CQC » « Envoyée »", "staff", ["/admin/cqc_requests/?flt0_0=envoyee"]),
            ("staff: outbox", "staff", ["/admin/outbox/"]),
            ("staff: audit log", "staff", ["/admin/audit/"]),
        ]
        wanted = [text.strip().lower() for text in args.only.split(",")]
        pages = [page for page in pages if any(text in page[0].lower() for text in wanted)]
        counts = query_counts(url, pages, drivers[0])
        bare_paths = [(f"/?id={i}", "") for i in user_ids[:200]]
        print("| page | connections | req/s | p50 ms | p95 ms | errors | bare req/s | ratio | queries |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, kind, paths in pages:
            if kind == "driver":
                requests = [(path, cookie) for cookie in driver_cookies for path in paths]
            else:
                requests = [(path, staff_cookie) for path in paths]
            for connections in [int(c) for c in args.connections.split(",")]:
                runs, bares = [], []
                for _ in range(args.runs):
                    runs.append(wrk(base, requests, connections, args.duration))
                    bares.append(wrk("http://127.0.0.1:8102", bare_paths, connections, args.duration))
                rps = statistics.median(r[0] for r in runs)
                bare_rps = statistics.median(b[0] for b in bares)
                print(f"| {name} | {connections} | {rps:,.1f} | {statistics.median(r[1] for r in runs):.1f} | "
                      f"{statistics.median(r[2] for r in runs):.1f} | {int(max(r[3] for r in runs))} | {bare_rps:,.0f} | "
                      f"{rps / bare_rps if bare_rps else 0:.3f} | {counts.get(name, '')} |", flush=True)
    finally:
        product.terminate()
        bare.terminate()
        log.close()
    if args.jobs:
        time_jobs(url)


if __name__ == "__main__":
    main()
