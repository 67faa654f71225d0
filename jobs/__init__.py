"""The scheduler: idempotent sweeps, run by their own process (`flask jobs run`), or once by hand."""
import logging

import click
from flask import current_app
from flask.cli import AppGroup

from models import db

log = logging.getLogger("hubpro.jobs")


def registry():
    """Return {name: (module, seconds between runs)} for every job."""
    from jobs import analysis_alerts, card_renewals, certificates, followups, invoices, links, new_files, outbox, refunds

    return {
        "outbox": (outbox, 30),
        "new_files": (new_files, 300),
        "analysis_alerts": (analysis_alerts, 3600),
        "links": (links, 3600),
        "certificates": (certificates, 3600),
        "followups": (followups, 3600),
        "refunds": (refunds, 900),
        "invoices": (invoices, 86400),
        "card_renewals": (card_renewals, 86400),
    }


def run_job(app, name):
    """Run one job in its own app context and connection; return what it reports."""
    module, _ = registry()[name]
    with app.app_context():
        db.connect(reuse_if_open=True)
        try:
            result = module.run()
        finally:
            if not db.is_closed():
                db.close()
    log.info("job %s: %s", name, result)
    return result


def init_app(app):
    """Register the `flask jobs` commands."""
    group = AppGroup("jobs", help="Les tâches planifiées de Hub Pro Transport.")

    @group.command("run")
    def run_command():
        """Run the scheduler in this process (one per deployment)."""
        from apscheduler.schedulers.blocking import BlockingScheduler

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        app_obj = current_app._get_current_object()
        scheduler = BlockingScheduler(timezone="Europe/Paris")
        for name, (_, seconds) in registry().items():
            scheduler.add_job(run_job, "interval", seconds=seconds, args=[app_obj, name], id=name,
                              max_instances=1, coalesce=True, next_run_time=_soon())
        click.echo("Planificateur démarré : " + ", ".join(registry()))
        scheduler.start()

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


def _soon():
    import datetime as dt

    return dt.datetime.now() + dt.timedelta(seconds=2)
