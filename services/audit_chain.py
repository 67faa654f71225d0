"""The audit log's hash chain: each line carries the previous line's hash, so an edited or deleted line shows.

Every writer locks the chain's one head row (SELECT … FOR UPDATE on PostgreSQL, SQLite's write lock) until its
transaction ends, so two lines never name the same previous one. `flask audit verify` walks the chain; a daily job
e-mails the day's last hash to AUDIT_HASH_RECIPIENT, a copy kept outside the database; retention erases the lines
older than 5 years from the chain's start, moving its anchor.
"""
import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import AppGroup
from peewee import fn

from models import AuditChain, AuditLog, db
from models import clock

log = logging.getLogger("hubpro.audit")

#: The head's one row.
HEAD_ID = 1
#: Lines read at a time by the verification, erased at a time by retention.
BATCH = 5000


def _postgres():
    return "Postgres" in type(db.obj).__name__


def actor_of(line):
    """Return who wrote a line as the chain keeps it: « s<id> » for staff, « u<id> » for a public account, or empty."""
    if line.staff_id:
        return f"s{line.staff_id}"
    if line.user_id:
        return f"u{line.user_id}"
    return ""


def line_hash(line, previous):
    """Return a line's hash: SHA-256 over its fields as written and the previous line's hash."""
    fields = {
        "prev": previous,
        "at": line.at.isoformat(timespec="microseconds"),
        "actor": line.actor_ref or "",
        "action": line.action or "",
        "target": line.target or "",
        "detail": line.detail or "",
        "ip": line.ip or "",
    }
    # A column added later enters the hash only where it holds something: older lines keep their hash.
    request_id = getattr(line, "request_id", "") or ""
    if request_id:
        fields["request_id"] = request_id
    payload = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _lock():
    query = AuditChain.select().where(AuditChain.id == HEAD_ID)
    if _postgres():
        return query.for_update().first()
    # SQLite has no row lock: a no-op UPDATE takes the database's write lock until the transaction ends.
    AuditChain.update(last_id=AuditChain.last_id).where(AuditChain.id == HEAD_ID).execute()
    return query.first()


def locked_head():
    """Return the chain's head, locked until the current transaction ends; the first line ever creates it."""
    head = _lock()
    if head is None:
        # Lines written before the chain began stay outside it.
        anchor = AuditLog.select(fn.MAX(AuditLog.id)).scalar() or 0
        AuditChain.insert(id=HEAD_ID, last_id=anchor, anchor_id=anchor).on_conflict_ignore().execute()
        head = _lock()
    return head


def write(**fields):
    """Write one audit line chained to the previous one, in the caller's transaction; return it."""
    line = AuditLog(**fields)
    line.actor_ref = actor_of(line)
    with db.atomic():
        head = locked_head()
        line.prev_hash = head.last_hash
        line.row_hash = line_hash(line, head.last_hash)
        line.save(force_insert=True)
        AuditChain.update(last_id=line.id, last_hash=line.row_hash).where(AuditChain.id == HEAD_ID).execute()
    return line


# --- Verification ------------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    """What `flask audit verify` found: intact or not, said in French, and the line where the chain breaks."""

    intact: bool
    message: str
    line_id: int | None = None


def _when(line):
    return clock.local(line.at).strftime("%d/%m/%Y %H:%M:%S")


def _walk(after, previous, expected):
    """Check the lines after an id, each against its hash and the previous one's; return (last id, last hash,
    lines checked, expected hash seen) or a broken Verdict."""
    checked, seen = 0, False
    while True:
        lines = list(AuditLog.select().where(AuditLog.id > after).order_by(AuditLog.id).limit(BATCH))
        if not lines:
            return after, previous, checked, seen
        for line in lines:
            if line.prev_hash != previous:
                return Verdict(False, (
                    f"Chaîne rompue avant la ligne n° {line.id} ({_when(line)}, « {line.action} ») : des lignes ont été "
                    f"supprimées juste avant elle, ou la ligne précédente (n° {after}) a été modifiée et son empreinte "
                    "recalculée."), line.id)
            wrong_actor = line.actor_ref != actor_of(line) and (line.staff_id or line.user_id)
            if line_hash(line, previous) != line.row_hash or wrong_actor:
                return Verdict(False, (
                    f"La ligne n° {line.id} ({_when(line)}, « {line.action} ») a été modifiée : son contenu ne "
                    "correspond plus à son empreinte."), line.id)
            after, previous = line.id, line.row_hash
            checked += 1
            seen = seen or line.row_hash == expected


def verify(expected=None):
    """Walk the whole chain from its anchor; return a Verdict (the first altered line, if any).

    ``expected`` is a hash published earlier (the daily e-mail): it must still be in the chain.
    """
    head = AuditChain.get_or_none(AuditChain.id == HEAD_ID)
    if head is None:
        if AuditLog.select().where(AuditLog.row_hash != "").exists():
            return Verdict(False, "La tête de la chaîne d'empreintes a disparu : le journal d'audit a été altéré.")
        return Verdict(True, "Journal d'audit : aucune ligne chaînée pour l'instant (la chaîne commence à la prochaine ligne).")
    last_id, previous, checked, seen = head.anchor_id, head.anchor_hash, 0, False
    while True:
        walked = _walk(last_id, previous, expected)
        if isinstance(walked, Verdict):
            return walked
        last_id, previous, more, found = walked
        checked, seen = checked + more, seen or found
        head = AuditChain.get_by_id(HEAD_ID)
        if last_id == head.last_id and previous == head.last_hash:
            break
        if last_id == head.last_id:
            return Verdict(False, (
                f"La ligne n° {last_id} a été modifiée et son empreinte recalculée : elle ne correspond plus à la tête "
                "de la chaîne."), last_id)
        if last_id > head.last_id or not more:
            # Lines beyond the head were added around the chain, or the head names lines that are gone.
            line = last_id if last_id > head.last_id else head.last_id
            return Verdict(False, (
                f"La fin du journal d'audit a été altérée : la dernière ligne chaînée devrait être la n° {head.last_id}, "
                f"le journal s'arrête à la n° {last_id} (lignes supprimées ou ajoutées hors de la chaîne)."), line)
        # Lines written while the walk went on: check them too.
    if expected and not seen and expected != head.anchor_hash:
        return Verdict(False, (
            f"L'empreinte {expected} ne figure pas dans la chaîne : des lignes ont été supprimées ou modifiées "
            "depuis sa publication."))
    outside = f" ; {head.anchor_id} ligne(s) antérieure(s) hors de la chaîne" if head.anchor_id else ""
    return Verdict(True, (
        f"Journal d'audit intègre : {checked} ligne(s) vérifiée(s), de la ligne n° {head.anchor_id + 1} à la ligne "
        f"n° {last_id}{outside}. Dernière empreinte : {previous or '(aucune)'}."))


# --- Daily publication and retention --------------------------------------------------------------------------------


def _midnight_after(day):
    """Return the end of a day in France as a stored (naive UTC) datetime."""
    paris = ZoneInfo("Europe/Paris")
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=paris)
    return end.astimezone(dt.timezone.utc).replace(tzinfo=None)


def publish_daily_hash():
    """E-mail yesterday's last hash to AUDIT_HASH_RECIPIENT, once a day; return how many messages were queued."""
    from services import outbox

    recipient = current_app.config.get("AUDIT_HASH_RECIPIENT") or ""
    if not recipient:
        log.warning("Empreinte du journal d'audit non publiée : AUDIT_HASH_RECIPIENT n'est pas configuré.")
        return 0
    day = clock.today() - dt.timedelta(days=1)
    with db.atomic():
        head = locked_head()
        if head.published_on is not None and head.published_on >= day:
            return 0
        line = (AuditLog.select().where(AuditLog.at < _midnight_after(day), AuditLog.id > head.anchor_id)
                .order_by(AuditLog.id.desc()).first())
        outbox.queue_email(recipient, "audit_hash", f"Empreinte du journal d'audit au {day:%d/%m/%Y}", day=day,
                           line=line, digest=line.row_hash if line else head.anchor_hash,
                           when=_when(line) if line else "")
        AuditChain.update(published_on=day).where(AuditChain.id == HEAD_ID).execute()
    log.info("Empreinte du journal d'audit au %s envoyée à %s", day, recipient)
    return 1


def prune(before):
    """Erase the lines written before a moment, from the chain's start, moving its anchor; return how many."""
    first_kept = AuditLog.select(fn.MIN(AuditLog.id)).where(AuditLog.at >= before).scalar()
    erased = 0
    while True:
        with db.atomic():
            head = locked_head()
            query = AuditLog.select(AuditLog.id, AuditLog.row_hash).order_by(AuditLog.id).limit(BATCH)
            batch = list(query if first_kept is None else query.where(AuditLog.id < first_kept))
            if not batch:
                return erased
            last = batch[-1]
            AuditLog.delete().where(AuditLog.id <= last.id).execute()
            if last.id > head.anchor_id:
                # The first line kept names the last line erased as previous: that hash becomes the anchor.
                AuditChain.update(anchor_id=last.id, anchor_hash=last.row_hash or head.anchor_hash).where(
                    AuditChain.id == HEAD_ID).execute()
            erased += len(batch)


def init_app(app):
    """Register `flask audit verify`."""
    group = AppGroup("audit", help="Le journal d'audit et sa chaîne d'empreintes.")

    @group.command("verify")
    @click.option("--empreinte", "expected", default=None,
                  help="Une empreinte publiée (message quotidien) qui doit figurer dans la chaîne.")
    def verify_command(expected):
        """Prove the audit chain intact, or name the first altered line (exit code 1)."""
        verdict = verify(expected)
        click.echo(verdict.message)
        if not verdict.intact:
            raise SystemExit(1)

    app.cli.add_command(group)
