"""Approvals (« agréments ») of training centres, recorded by staff on behalf of the DREAL."""
import csv
import datetime as dt

from models import Approval, db
from models import clock
from services import audit, outbox, sirene

CATEGORIES = ("Marchandises", "Voyageurs")
TRAININGS = ("FIMO", "Passerelle", "FCO")


def record(*, siret, number, category, trainings, email, granted_on):
    """Record an approval and e-mail the centre the « Agrément CFA » notification with its creation link."""
    approval = Approval.create(
        siret=siret, number=number, category=category, trainings=trainings, email=email.strip().lower(), granted_on=granted_on
    )
    outbox.queue_email(
        approval.email,
        "approval",
        "Agrément CFA",
        approval=approval,
        link=outbox.public_url("accounts.organisation", kind="centre", siret=approval.siret),
    )
    Approval.update(notified_at=clock.now()).where(Approval.id == approval.id).execute()
    audit.record("Agrément enregistré", siret, f"{number} – {category} – {trainings}")
    return approval


def _parse_row(row):
    """Return record() arguments from a CSV row, or raise ValueError with a French message."""
    siret = sirene.normalize_siret(row.get("siret", ""))
    category = (row.get("type") or "").strip().capitalize()
    if category not in CATEGORIES:
        raise ValueError("type attendu : Marchandises ou Voyageurs")
    names = [t.strip() for t in (row.get("formations") or "FIMO,Passerelle,FCO").replace(";", ",").split(",") if t.strip()]
    unknown = [t for t in names if t not in TRAININGS]
    if unknown:
        raise ValueError("formation inconnue : " + ", ".join(unknown))
    email = (row.get("email") or "").strip()
    if "@" not in email:
        raise ValueError("adresse électronique manquante")
    raw_date = (row.get("date") or "").strip()
    try:
        granted_on = dt.datetime.strptime(raw_date, "%d/%m/%Y").date() if "/" in raw_date else dt.date.fromisoformat(raw_date)
    except ValueError:
        raise ValueError("date attendue au format JJ/MM/AAAA")
    number = (row.get("numero") or "").strip()
    if not number:
        raise ValueError("numéro d'agrément manquant")
    return dict(siret=siret, number=number, category=category, trainings=",".join(names), email=email, granted_on=granted_on)


def import_csv(handle):
    """Record every valid row of a CSV (columns siret;numero;type;formations;email;date); return (count, errors)."""
    sample = handle.read()
    dialect = csv.Sniffer().sniff(sample.splitlines()[0] if sample else ",", delimiters=";,")
    reader = csv.DictReader(sample.splitlines(), dialect=dialect)
    reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
    recorded, errors = 0, []
    for line, row in enumerate(reader, start=2):
        try:
            arguments = _parse_row(row)
        except (ValueError, sirene.InvalidSiret) as error:
            errors.append(f"Ligne {line} : {error}")
            continue
        with db.atomic():
            record(**arguments)
        recorded += 1
    return recorded, errors
