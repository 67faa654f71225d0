"""The scheduler: idempotent sweeps, run by `flask jobs run` (one process per machine, one at a time), or once by hand."""
import datetime as dt
import logging
import signal
import time

import click
from flask import current_app
from flask.cli import AppGroup
from peewee import PeeweeException

from models import clock, db
from services import scheduler

log = logging.getLogger("hubpro.jobs")


def registry():
    """Return {name: (module, seconds between runs)} for every job; its label and period are in scheduler.SCHEDULE."""
    from jobs import analysis_alerts, card_renewals, certificates, followups, invoices, links, new_files, outbox, refunds
    from jobs import audit_hash, data_exports, retention

    modules = {
        "outbox": outbox,
        "new_files": new_files,
        "analysis_alerts": analysis_alerts,
        "links": links,
        "certificates": certificates,
        "followups": followups,
        "refunds": refunds,
        "invoices": invoices,
        "card_renewals": card_renewals,
        "retention": retention,
        "data_exports": data_exports,
        "audit_hash": audit_hash,
    }
    return {name: (module, scheduler.SCHEDULE[name][1]) for name, module in modules.items()}


def run_job(app, name, node=None):
    """Run one job in its own app context and connection, recorded as a JobRun; return what it reports."""
    with app.app_context():
        module, _ = registry()[name]
        db.connect(reuse_if_open=True)
        try:
            result = scheduler.record_run(name, module.run, node or scheduler.node_name() + " (à la main)")
        finally:
            if not db.is_closed():
                db.close()
    log.info("job %s: %s", name, result)
    return result


def serve(app, echo):
    """Wait for the scheduler's lock, retrying every JOBS_LOCK_RETRY_SECONDS; run the jobs while holding it."""
    node = scheduler.node_name()
    lock = scheduler.lock_for(app)
    retry = app.config["JOBS_LOCK_RETRY_SECONDS"]
    # A stop (systemd, kill) lets the running jobs end and gives the lock back.
    signal.signal(signal.SIGTERM, _stop)
    # Each run is recorded (JobRun) and logged once below: APScheduler's own lines about it would double them.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    waiting = False
    while True:
        if not lock.acquire():
            if not waiting:
                echo(f"Planificateur {node} en attente : un autre processus tient le verrou "
                     f"(nouvel essai toutes les {retry} s).")
                waiting = True
            time.sleep(retry)
            continue
        waiting = False
        echo(f"Planificateur {node} : verrou obtenu, tâches démarrées : " + ", ".join(registry()))
        hold(app, lock, node)
        echo(f"Planificateur {node} : verrou perdu, tâches arrêtées ; attente du verrou.")


def hold(app, lock, node):
    """Run every job on its schedule and write the heartbeat while the lock is held; stop the jobs when it is lost."""
    from apscheduler.schedulers.background import BackgroundScheduler

    since = clock.now()
    jobs = BackgroundScheduler(timezone="Europe/Paris")
    first = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)
    for name in registry():
        jobs.add_job(run_job, "interval", seconds=scheduler.period(name), args=[app, name, node], id=name,
                     max_instances=1, coalesce=True, next_run_time=first)
    jobs.start()
    try:
        while lock.held():
            with app.app_context():
                try:
                    db.connect(reuse_if_open=True)
                    scheduler.beat(node, since)
                except PeeweeException as error:
                    log.warning("Signe de vie du planificateur non écrit : %s", error)
                finally:
                    if not db.is_closed():
                        db.close()
            time.sleep(app.config["JOBS_HEARTBEAT_SECONDS"])
    finally:
        jobs.shutdown(wait=True)
        lock.release()


def _stop(signum, frame):
    raise SystemExit(0)


def init_app(app):
    """Register the `flask jobs` commands."""
    group = AppGroup("jobs", help="Les tâches planifiées de Hub Pro Transport.")

    @group.command("run")
    def run_command():
        """Run the jobs in this process once it holds the scheduler's lock (start one per machine)."""
        serve(current_app._get_current_object(), click.echo)

    @group.command("run-once")
    @click.argument("name")
    def run_once_command(name):
        """Run one job now and print what it changed."""
        if name not in registry():
            raise click.BadParameter("tâche inconnue ; tâches : " + ", ".join(registry()))
        click.echo(f"{name} : {run_job(current_app._get_current_object(), name)}")

    @group.command("list")
    def list_command():
        """List the jobs and how often they run."""
        for name, (module, seconds) in registry().items():
            click.echo(f"{name:18} toutes les {seconds} s  {module.__doc__.strip().splitlines()[0]}")

    app.cli.add_command(group)
