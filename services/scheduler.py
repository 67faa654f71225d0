"""One scheduler at a time: the lock its process holds, its heartbeat, and the record of each job's run.

Any number of `flask jobs run` processes may start, one per machine. On PostgreSQL the one holding a session-level
advisory lock runs the jobs: the lock lives on a connection of its own, outside the pool and kept for the process's
life, so PostgreSQL releases it the moment that process dies and a waiting one takes it. On SQLite (one machine) a
file lock next to the database plays the same part.
"""
import dataclasses
import datetime as dt
import fcntl
import hashlib
import logging
import os
import socket

from flask import current_app

from models import JobRun, SchedulerHeartbeat, db
from models import clock, deadlines

log = logging.getLogger("hubpro.jobs")

#: Each job's name (its module in jobs/), what staff read in « Suivi › Tâches planifiées », and the seconds between runs.
SCHEDULE = {
    "outbox": ("Envoi des e-mails et SMS de la boîte d'envoi", 30),
    "new_files": ("Nouveaux télédossiers signalés aux abonnements", 300),
    "analysis_alerts": ("Alertes des analyses et contrats en attente depuis plus de 24 h", 3600),
    "links": ("Purge des liens expirés ou utilisés", 3600),
    "certificates": ("Attestations de formation : PDF, avertissements, expirations", 3600),
    "followups": ("Relances des demandes d'information, brouillons abandonnés", 3600),
    "refunds": ("Remboursements en attente du prestataire de paiement", 900),
    "invoices": ("Factures mensuelles des contrats, purge des factures de plus de 10 ans", 86400),
    "card_renewals": ("Rappels de renouvellement des cartes tachygraphe", 86400),
    "retention": ("Conservation des données : effacements et purges (RGPD)", 3600),
    "data_exports": ("Préparation des exports « Télécharger mes données »", 60),
    "audit_hash": ("Empreinte quotidienne du journal d'audit envoyée à AUDIT_HASH_RECIPIENT", 3600),
}

#: A job is late when it has not succeeded for this many of its periods.
LATE_AFTER_PERIODS = 2

#: The advisory lock's key: a fixed 64-bit number that no other lock of the database uses.
LOCK_KEY = int.from_bytes(hashlib.sha256(b"hubpro-transport: flask jobs run").digest()[:8], "big", signed=True)

#: The longest error text a run keeps (the traceback goes to the log).
ERROR_SIZE = 2000


def node_name():
    """Return this machine's name and this process's id (« web-1:4242 »)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def period(name):
    """Return the seconds between two runs of a job (JOBS_EVERY_SECONDS, when set, for every job)."""
    return current_app.config["JOBS_EVERY_SECONDS"] or SCHEDULE[name][1]


def changed_rows(report):
    """Return how many rows a job's report says it changed: the number itself, or the sum of a dict's counts."""
    if isinstance(report, dict):
        return sum(changed_rows(value) for value in report.values())
    if isinstance(report, int) and not isinstance(report, bool):
        return report
    return 0


def record_run(name, run, node):
    """Call a job's run() and record the run (where, when, the rows it changed, or its error, raised again)."""
    row = JobRun.create(job=name, node=node)
    try:
        report = run()
    except Exception as error:
        log.exception("Tâche %s en échec", name)
        JobRun.update(ended_at=clock.now(), error=f"{type(error).__name__}: {error}"[:ERROR_SIZE]).where(
            JobRun.id == row.id).execute()
        raise
    JobRun.update(ended_at=clock.now(), changed=changed_rows(report)).where(JobRun.id == row.id).execute()
    return report


def beat(node, since):
    """Write the heartbeat of the process holding the lock, and purge the runs older than JOB_RUNS_KEPT."""
    SchedulerHeartbeat.beat(node, since)
    return JobRun.delete().where(JobRun.started_at < clock.now() - deadlines.JOB_RUNS_KEPT).execute()


def heartbeat_max_age():
    """Return how old the heartbeat may be while the scheduler counts as alive (JOBS_HEARTBEAT_MAX_AGE)."""
    return dt.timedelta(seconds=current_app.config["JOBS_HEARTBEAT_MAX_AGE"])


def is_alive():
    """Did a scheduler holding the lock beat within JOBS_HEARTBEAT_MAX_AGE?"""
    heartbeat = SchedulerHeartbeat.current()
    return heartbeat is not None and heartbeat.is_fresh(heartbeat_max_age())


@dataclasses.dataclass(frozen=True)
class JobState:
    """What « Tâches planifiées » says of a job: its period, its last success, and whether it is late."""

    name: str
    label: str
    seconds: int
    last_success: dt.datetime | None
    late: bool


def job_states():
    """Return each scheduled job's state; a job is late when it has not succeeded for twice its period."""
    now = clock.now()
    states = []
    for name, (label, _) in SCHEDULE.items():
        seconds = period(name)
        last = JobRun.last_success(name)
        late = last is None or now - last > dt.timedelta(seconds=LATE_AFTER_PERIODS * seconds)
        states.append(JobState(name, label, seconds, last, late))
    return states


# --- The lock -----------------------------------------------------------------------------------------------


def lock_for(app):
    """Return the lock of this deployment's scheduler: PostgreSQL's advisory lock, else a file lock."""
    database = db.obj
    if "Postgres" in type(database).__name__:
        return AdvisoryLock(database.database, database.connect_params)
    if app.config["DATABASE_URL"].startswith("sqlite") and database.database != ":memory:":
        return FileLock(os.path.abspath(database.database) + "-scheduler.lock")
    return FileLock(os.path.join(app.instance_path, "scheduler.lock"))


class AdvisoryLock:
    """A session-level advisory lock on a connection of its own, opened once and kept for the process's life."""

    def __init__(self, database, params):
        self.database = database
        self.params = dict(params)
        self.connection = None

    def _connect(self):
        import psycopg

        # The client notices a dead network within about 25 s; the server does the same for a dead machine (its
        # session, and the lock, end) and never ends this idle session itself.
        options = {"connect_timeout": 10, "application_name": "hubpro-planificateur", "keepalives": 1,
                   "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3, **self.params}
        connection = psycopg.connect(dbname=self.database, autocommit=True, **options)
        for setting in ("tcp_keepalives_idle = 10", "tcp_keepalives_interval = 5", "tcp_keepalives_count = 3"):
            connection.execute("SET " + setting)
        if connection.info.server_version >= 140000:
            connection.execute("SET idle_session_timeout = 0")
        return connection

    def acquire(self):
        """Take the lock if no other process holds it; False when one does or the database cannot be reached."""
        import psycopg

        try:
            if self.connection is None or self.connection.closed:
                self.connection = self._connect()
            return bool(self.connection.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0])
        except (psycopg.Error, OSError) as error:
            log.warning("Verrou du planificateur inaccessible : %s", error)
            self._drop()
            return False

    def held(self):
        """Is the lock still held (its connection alive)?"""
        import psycopg

        try:
            self.connection.execute("SELECT 1")
            return True
        except (psycopg.Error, OSError, AttributeError) as error:
            log.error("Connexion du verrou du planificateur perdue : %s", error)
            self._drop()
            return False

    def release(self):
        """Give the lock back, keeping the connection for the next time."""
        import psycopg

        try:
            if self.connection is not None and not self.connection.closed:
                self.connection.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
        except psycopg.Error:
            self._drop()

    def _drop(self):
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:  # already broken: nothing more to free
                pass
        self.connection = None


class FileLock:
    """An exclusive lock (fcntl.flock) on a file next to the SQLite database, for processes of one machine."""

    def __init__(self, path):
        self.path = path
        self.handle = None

    def acquire(self):
        """Take the lock if no other process of this machine holds it."""
        handle = open(self.path, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self.handle = handle
        return True

    def held(self):
        """Is the lock held (the file open and locked by this process)?"""
        return self.handle is not None

    def release(self):
        """Give the lock back."""
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None
