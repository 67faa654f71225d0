"""What the staff dashboard reads: per procedure, the files at each stage, the late ones and the oldest waiting; the
files received and decided per day over the last 30 days, and the median time to a decision.

Nothing here reads every file: the stages come from the counters the database keeps (models/counters.py); the late
files and the oldest waiting are bounded reads of the (procedure, state, submitted_at) index; the days are index
ranges over (procedure, submitted_at) and (procedure, decided_at), each series one grouped query.
"""
import datetime as dt
from dataclasses import astuple, dataclass
from zoneinfo import ZoneInfo

from peewee import SQL, Case, Select, fn

from models import (
    COUNT_CAP, ESTIMATE_MARGIN, AccountState, Dossier, ProcedureCode, RequestState, StateCount, capped_count, db,
)
from models import clock, deadlines

PARIS = ZoneInfo("Europe/Paris")
#: The states of a file its holder has not sent (or cancelled): never received by the service.
UNSENT = (RequestState.BROUILLON, RequestState.ANNULEE)
#: The lifecycle events that are a decision (services.transitions marks their steps ``decides``).
DECISION_EVENTS = ("accept", "reject")


@dataclass(frozen=True)
class Stages:
    """Where a procedure's files wait: for the service (sent, in instruction), or for their holder."""

    waiting: str
    instruction: str | None
    holder: str

    @property
    def at_service(self):
        """Return the states in which the service owes the file a decision (late past the procedure's target)."""
        return tuple(state for state in (self.waiting, self.instruction) if state)


#: An account analysis waits « En analyse » and goes back to its holder « À corriger »; a request is « Envoyée »,
#: then « En cours d'instruction », and waits for its holder « En attente d'information complémentaire ».
ACCOUNT_STAGES = Stages(AccountState.EN_ANALYSE, None, AccountState.A_CORRIGER)
REQUEST_STAGES = Stages(RequestState.ENVOYEE, RequestState.EN_INSTRUCTION, RequestState.ATTENTE_COMPLEMENT)
#: Every state in which some procedure's file waits for the service.
AT_SERVICE = tuple(dict.fromkeys(ACCOUNT_STAGES.at_service + REQUEST_STAGES.at_service))


def stages_of(code):
    """Return the stages of a procedure's files."""
    return ACCOUNT_STAGES if code == ProcedureCode.COMPTE_PARTICULIER else REQUEST_STAGES


def target_of(code):
    """Return how long a file of this procedure may wait for the service before it is late."""
    return deadlines.DECISION_TARGETS[str(code)]


def day_start(day):
    """Return the stored (naive UTC) moment at which a day starts in Paris."""
    return dt.datetime.combine(day, dt.time(), tzinfo=PARIS).astimezone(dt.timezone.utc).replace(tzinfo=None)


def window(days=deadlines.DASHBOARD_DAYS):
    """Return the last `days` Paris days, today last, and the moment after them (tomorrow's start)."""
    today = clock.today()
    dates = [today - dt.timedelta(days=n) for n in range(days - 1, -1, -1)]
    return dates, day_start(today + dt.timedelta(days=1))


def _day_of(column, starts):
    """Return an expression giving the index of the day (in starts) a stored moment falls in."""
    return Case(None, [(column >= start, index) for index, start in reversed(list(enumerate(starts)))], None)


def _postgres():
    return "Postgres" in type(db.obj).__name__


@dataclass
class Figures:
    """Where a procedure's files stand now."""

    waiting: int = 0
    instruction: int | None = 0
    holder: int = 0
    #: Files waiting for the service past the procedure's target, up to COUNT_CAP + 1 (« plus de 10 000 »).
    late: int = 0
    #: When the oldest file waiting (« Envoyée », « En analyse ») reached the service, or None.
    oldest_at: dt.datetime | None = None


def _late(procedure, stages, now):
    """Return the query of a procedure's files waiting for the service past its target (on the state index)."""
    return Dossier.select(SQL("1")).where(Dossier.procedure == procedure.id, Dossier.state.in_(stages.at_service),
                                          Dossier.submitted_at < now - target_of(procedure.code))


def figures(procedures):
    """Return {procedure id: Figures} of these procedures (rows with id and code), whatever the number of files.

    The stages are the counters (one query); the late files and the oldest waiting one more query for all the
    procedures, each a count stopped at COUNT_CAP + 1 and the first entry of an index range. A procedure with
    far more files at the service than the cap has its late files counted by capped_count, which asks the planner
    first (PostgreSQL), so that no page walks 10,000 index entries per procedure.
    """
    procedures = list(procedures)
    counts = StateCount.by_procedure({state for p in procedures for state in astuple(stages_of(p.code)) if state})
    result, columns, asked = {}, [], []
    now = clock.now()
    for procedure in procedures:
        stages = stages_of(procedure.code)
        row = result[procedure.id] = Figures(
            waiting=counts.get((procedure.id, stages.waiting), 0),
            instruction=counts.get((procedure.id, stages.instruction), 0) if stages.instruction else None,
            holder=counts.get((procedure.id, stages.holder), 0),
        )
        at_service = sum(counts.get((procedure.id, state), 0) for state in stages.at_service)
        if at_service > ESTIMATE_MARGIN * COUNT_CAP:
            row.late = capped_count(_late(procedure, stages, now), COUNT_CAP)
        elif at_service:
            columns.append(Select([_late(procedure, stages, now).limit(COUNT_CAP + 1).alias(f"late_{procedure.id}")],
                                  [fn.COUNT(SQL("*"))]))
            asked.append((procedure.id, "late"))
        if row.waiting:
            columns.append(Dossier.select(Dossier.submitted_at)
                           .where(Dossier.procedure == procedure.id, Dossier.state == stages.waiting)
                           .order_by(Dossier.submitted_at).limit(1))
            asked.append((procedure.id, "oldest_at"))
    if columns:
        # One statement for every procedure: its columns are scalar subqueries, each bounded by its LIMIT.
        for (procedure_id, name), value in zip(asked, db.execute(Select(columns=columns)).fetchone()):
            setattr(result[procedure_id], name, Dossier.submitted_at.python_value(value) if name == "oldest_at" else value)
    return result


def daily(procedure_ids, dates, end):
    """Return {("received" | "decided", procedure id, day index): files} over these Paris days, in one query.

    A file is received on the day it (last) reached the service (sent, or completed by its holder), decided on the
    day of its (last) decision; the days' counts add up to what the queues show with the same day filters.
    """
    if not procedure_ids or not dates:
        return {}
    starts = [day_start(day) for day in dates]
    arms = []
    for kind, column, more in ((0, Dossier.submitted_at, [Dossier.state.not_in(UNSENT)]),
                               (1, Dossier.decided_at, [])):
        files = (Dossier.select(Dossier.procedure.alias("procedure_id"), _day_of(column, starts).alias("day"))
                 .where(Dossier.procedure.in_(list(procedure_ids)), column >= starts[0], column < end, *more)
                 .alias(f"files_{kind}"))
        # Grouped on the subquery's columns: PostgreSQL would not match the CASE's parameters across SELECT and GROUP BY.
        arms.append(Select([files], [SQL(str(kind)), files.c.procedure_id, files.c.day, fn.COUNT(SQL("*"))])
                    .group_by(files.c.procedure_id, files.c.day))
    kinds = ("received", "decided")
    return {(kinds[kind], procedure_id, day): n for kind, procedure_id, day, n in db.execute(arms[0] + arms[1])}


def medians(procedure_ids, chart_ids, dates, end):
    """Return the median seconds from reception to decision over these days: ({procedure id: s}, {day index: s}).

    Per procedure over the whole window, and per day over the chart's procedures; one query, read from the
    (procedure, decided_at, submitted_at) index alone. A file decided then sent again (an account corrected by its
    holder) waits for a new decision: its former one is left out.
    """
    if not procedure_ids:
        return {}, {}
    starts = [day_start(day) for day in dates]
    decided = (Dossier.decided_at >= starts[0], Dossier.decided_at < end, Dossier.decided_at >= Dossier.submitted_at)
    if _postgres():
        # PostgreSQL's own median (the mean of the two middle values for an even number), per group.
        median = SQL("EXTRACT(EPOCH FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY decided_at - submitted_at))")
        by_procedure = (Dossier.select(SQL("0"), Dossier.procedure, median)
                        .where(Dossier.procedure.in_(list(procedure_ids)), *decided).group_by(Dossier.procedure))
        days = (Dossier.select(_day_of(Dossier.decided_at, starts).alias("day"),
                               SQL("decided_at - submitted_at").alias("waited"))
                .where(Dossier.procedure.in_(list(chart_ids or [0])), *decided).alias("days"))
        by_day = Select([days], [SQL("1"), days.c.day,
                                 SQL('EXTRACT(EPOCH FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY "days"."waited"))')]
                        ).group_by(days.c.day)
        middle = by_procedure + by_day
    else:
        seconds = SQL("(julianday(decided_at) - julianday(submitted_at)) * 86400")
        by_procedure = (Dossier.select(SQL("0").alias("kind"), Dossier.procedure.alias("k"), seconds.alias("secs"))
                        .where(Dossier.procedure.in_(list(procedure_ids)), *decided))
        by_day = (Dossier.select(SQL("1"), _day_of(Dossier.decided_at, starts), seconds)
                  .where(Dossier.procedure.in_(list(chart_ids or [0])), *decided))
        rows = (by_procedure + by_day).alias("decisions")
        ranked = Select([rows], [
            rows.c.kind, rows.c.k, rows.c.secs,
            fn.ROW_NUMBER().over(partition_by=[rows.c.kind, rows.c.k], order_by=[rows.c.secs]).alias("rn"),
            fn.COUNT(SQL("*")).over(partition_by=[rows.c.kind, rows.c.k]).alias("n"),
        ]).alias("ranked")
        # The middle row, or the mean of the two middle rows.
        middle = (Select([ranked], [ranked.c.kind, ranked.c.k, fn.AVG(ranked.c.secs)])
                  .where(ranked.c.rn.in_([(ranked.c.n + 1) / 2, (ranked.c.n + 2) / 2]))
                  .group_by(ranked.c.kind, ranked.c.k))
    per_procedure, per_day = {}, {}
    for kind, key, value in db.execute(middle):
        (per_day if kind else per_procedure)[key] = round(float(value))
    return per_procedure, per_day


#: The states a file reaches by a decision, or after one (an account's password set).
DECIDED = (RequestState.ACCEPTEE, RequestState.REFUSEE, AccountState.CONFORME, AccountState.A_CORRIGER,
           AccountState.ACTIVE)


def date_past_decisions(database):
    """Give the files decided before decided_at existed the time of their last decision, read from their history."""
    events = ", ".join(f"'{event}'" for event in DECISION_EVENTS)
    states = ", ".join(f"'{state}'" for state in DECIDED)
    database.execute_sql(
        "UPDATE dossier SET decided_at = (SELECT max(e.at) FROM dossierevent e WHERE e.dossier_id = dossier.id"
        f" AND e.event IN ({events})) WHERE decided_at IS NULL AND state IN ({states})"
    )
