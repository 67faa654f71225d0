"""What the platform did: the e-mail and SMS outbox, the audit log, and the scheduled jobs' runs."""
import re

from flask import abort, current_app
from flask_admin import expose
from markupsafe import Markup, escape
from peewee import JOIN

from admin_views.base import ReadOnlyView, when
from models import AuditLog, OutboxMessage, OUTBOX_STATUS_LABELS, SchedulerHeartbeat, Staff, User
from models import clock
from services import scheduler

#: What staff read in place of the secret part of a link (password creation, activation, correction).
MASK = "••••"


def token_links(url_map):
    """Return a pattern finding, in any text, the secret part of a link to a route that takes a token.

    The routes are read from the application, so a new kind of link is masked as soon as it exists.
    """
    prefixes = set()
    for rule in url_map.iter_rules():
        if "token" in rule.arguments:
            before = re.split(r"<(?:[^:>]+:)?token>", rule.rule)[0]
            # Any other parameter before the token stands for one path segment.
            prefixes.add("[^/]+".join(re.escape(part) for part in re.split(r"<[^>]+>", before)))
    if not prefixes:
        return re.compile(r"(?!)")
    return re.compile("(" + "|".join(sorted(prefixes)) + r")[^/\s\"'<>?#&]+")


class OutboxView(ReadOnlyView):
    """Every e-mail and SMS the platform queued; each message readable, its links clickable."""

    local_admin_only = True
    simple_list_pager = True
    can_view_details = True
    details_template = "admin/outbox_details.html"
    column_list = ("created_at", "channel", "recipient", "subject", "status", "attempts", "sent_at")
    column_labels = {
        "created_at": "Créé le",
        "channel": "Canal",
        "recipient": "Destinataire",
        "subject": "Objet",
        "status": "Statut",
        "attempts": "Tentatives",
        "sent_at": "Envoyé le",
    }
    column_formatters = {
        "created_at": when("created_at"),
        "sent_at": when("sent_at"),
        "channel": lambda v, c, m, n: "E-mail" if m.channel == "email" else "SMS",
        "status": lambda v, c, m, n: OUTBOX_STATUS_LABELS.get(m.status, m.status),
        "subject": lambda v, c, m, n: v.masked(m.subject) or v.masked(m.body_text)[:60],
    }
    column_default_sort = ("id", True)
    column_searchable_list = (OutboxMessage.recipient, OutboxMessage.subject)
    search_hint = "Destinataire ou objet"
    column_filters = ("status", "channel")
    #: The pattern of links carrying a token, read from the application once.
    _token_links = None

    def masked(self, text):
        """Return a message's text with the secret part of its password and activation links hidden."""
        if self._token_links is None:
            self._token_links = token_links(current_app.url_map)
        return self._token_links.sub(lambda match: match.group(1) + MASK, text or "")

    @expose("/html/<int:message_id>")
    def html(self, message_id):
        """Serve a message's HTML body alone (links with a token masked), for the sandboxed frame of the details page."""
        message = OutboxMessage.get_or_none(OutboxMessage.id == message_id) or abort(404)
        body = self.masked(message.body_html) or f"<pre>{escape(self.masked(message.body_text))}</pre>"
        # Links open in a new tab so a person can follow them from the back office.
        body = body.replace("<head>", '<head><base target="_blank">', 1) if "<head>" in body else '<base target="_blank">' + body
        return body, 200, {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox allow-popups allow-popups-to-escape-sandbox",
        }


def _actor(view, context, row, name):
    # The list query joins both actors (no query per line).
    if row.staff_id:
        return Markup(f"{escape(row.staff_actor)} <span class='text-muted'>(IN Groupe)</span>")
    if row.user_id:
        return row.user_actor.email or row.user_actor.deleted_email
    return "Plateforme"


class AuditView(ReadOnlyView):
    """Who did what, when."""

    local_admin_only = True
    simple_list_pager = True
    column_list = ("at", "actor", "action", "target", "detail", "ip", "request_id")
    column_labels = {"at": "Date", "actor": "Par", "action": "Action", "target": "Objet", "detail": "Détail",
                     "ip": "Adresse IP", "request_id": "Référence"}
    column_formatters = {"at": when("at"), "actor": _actor}
    column_default_sort = ("id", True)
    # The « Référence de l'erreur » a person reads on an error page finds the rows of that request.
    column_searchable_list = (AuditLog.action, AuditLog.target, AuditLog.request_id)
    search_hint = "Action, objet ou référence"

    def scoped_query(self):
        return (
            AuditLog.select(AuditLog, Staff, User)
            .join(Staff, JOIN.LEFT_OUTER, on=(AuditLog.staff == Staff.id), attr="staff_actor")
            .switch(AuditLog)
            .join(User, JOIN.LEFT_OUTER, on=(AuditLog.user == User.id), attr="user_actor")
        )


def to_the_second(attribute):
    """A list-column formatter showing a stored UTC datetime in Paris time, to the second (16/06/2023 à 14:05:09)."""
    return lambda view, context, row, name: (
        clock.local(getattr(row, attribute)).strftime("%d/%m/%Y à %H:%M:%S") if getattr(row, attribute) else "")


def lasting(seconds):
    """Say a length of time as people read it (« 45 s », « 3 min 05 s », « 2 h 10 min »)."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def every(seconds):
    """Say how often a job runs (« toutes les 30 s », « toutes les heures », « tous les jours »)."""
    named = {3600: "toutes les heures", 86400: "tous les jours"}
    return named.get(seconds) or "toutes les " + lasting(seconds).removesuffix(" 00 s").removesuffix(" 00 min")


def _duration(view, context, run, name):
    return lasting((run.ended_at - run.started_at).total_seconds()) if run.ended_at else ""


def _outcome(view, context, run, name):
    if run.error:
        return Markup(f'<span class="badge badge-danger">Échec</span> {escape(run.error[:300])}')
    if run.ended_at:
        return Markup('<span class="badge badge-success">Réussie</span>')
    heartbeat = SchedulerHeartbeat.current()
    if heartbeat and heartbeat.node == run.node and heartbeat.is_fresh(scheduler.heartbeat_max_age()):
        return Markup('<span class="badge badge-info">En cours</span>')
    return Markup('<span class="badge badge-warning">Interrompue ou en cours à la main</span>')


class JobRunView(ReadOnlyView):
    """Each run of each scheduled job; above them, each job's last success, flagged when it is late, and the
    scheduler's heartbeat."""

    local_admin_only = True
    simple_list_pager = True
    list_template = "admin/monitoring/job_runs.html"
    column_list = ("job", "node", "started_at", "ended_at", "duration", "changed", "error")
    column_labels = {
        "job": "Tâche",
        "node": "Machine et processus",
        "started_at": "Début",
        "ended_at": "Fin",
        "duration": "Durée",
        "changed": "Lignes modifiées",
        "error": "Résultat",
    }
    column_formatters = {
        "job": lambda v, c, run, n: Markup(
            f'{escape(scheduler.SCHEDULE.get(run.job, ("",))[0])} <span class="text-muted">({escape(run.job)})</span>'),
        "started_at": to_the_second("started_at"),
        "ended_at": to_the_second("ended_at"),
        "duration": _duration,
        "error": _outcome,
    }
    column_sortable_list = ()
    column_default_sort = ("id", True)
    column_filters = ("job",)

    def render(self, template, **kwargs):
        """Give the list page each job's state and the scheduler's heartbeat."""
        if template == self.list_template:
            heartbeat = SchedulerHeartbeat.current()
            kwargs.update(
                job_states=scheduler.job_states(),
                heartbeat=heartbeat,
                alive=heartbeat is not None and heartbeat.is_fresh(scheduler.heartbeat_max_age()),
                heartbeat_age=lasting((clock.now() - heartbeat.beat_at).total_seconds()) if heartbeat else "",
                every=every,
                late_after=scheduler.LATE_AFTER_PERIODS,
            )
        return super().render(template, **kwargs)
