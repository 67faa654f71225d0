"""« Supervision »: every request and card of the organisation, who made each request, filters and a CSV export."""
import csv
import io

from flask import Blueprint, Response, render_template, request
from flask_login import current_user
from peewee import JOIN

from models import (
    PROCEDURES, STATE_LABELS, Card, CardKind, CompanyDriver, CqcRequest, Dossier, Organisation,
    Procedure, ProcedureCode, RequestState, TachographRequest, Training, User,
)
from public_forms import menu_page, requested_page
from services.formatting import date_fr

bp = Blueprint("supervision", __name__, url_prefix="/supervision")

#: Requests listed per page; an export holds at most so many.
PAGE_SIZE = 50
MAX_EXPORT = 50_000
#: The filters of the page: (query-string name, label).
FILTERS = (("etat", "Statut"), ("demarche", "Démarche"), ("conducteur", "Conducteur"), ("auteur", "Demande faite par"))


def _requests(organisation, chosen):
    """Return the organisation's requests (drafts included), newest first, narrowed by the filters chosen."""
    query = (
        Dossier.select(Dossier, Procedure, User, TachographRequest, CompanyDriver)
        .join(Procedure).switch(Dossier).join(User)
        .switch(Dossier).join(TachographRequest, JOIN.LEFT_OUTER, on=(TachographRequest.dossier == Dossier.id),
                              attr="tachograph_row")
        .join(CompanyDriver, JOIN.LEFT_OUTER, on=(TachographRequest.company_driver == CompanyDriver.id),
              attr="driver_row")
        .where(Dossier.organisation == organisation)
        .order_by(Dossier.created_at.desc(), Dossier.id.desc())
    )
    if chosen.get("etat") in RequestState.__members__.values():
        query = query.where(Dossier.state == chosen["etat"])
    if chosen.get("demarche") in ProcedureCode.__members__.values():
        query = query.where(Procedure.code == chosen["demarche"])
    if _identifier(chosen.get("conducteur")):
        query = query.where(TachographRequest.company_driver == _identifier(chosen["conducteur"]))
    if _identifier(chosen.get("auteur")):
        query = query.where(Dossier.user == _identifier(chosen["auteur"]))
    return query


def _identifier(value):
    """Return a row identifier typed in the query string, or None (not a number, or beyond any identifier)."""
    value = value or ""
    return int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None


def driver_of(dossier):
    """Return the driver of « Mes Conducteurs » a request is for, or None (left-joined rows may be empty)."""
    row = getattr(dossier, "tachograph_row", None)
    driver = getattr(row, "driver_row", None) if row is not None else None
    return driver if driver is not None and driver.id else None


def _cards_of(dossiers):
    """Return {file id: its cards} for a page of files."""
    cards = {}
    for card in Card.select().where(Card.dossier.in_([d.id for d in dossiers] or [0])).order_by(Card.id):
        cards.setdefault(card.dossier_id, []).append(card)
    return cards


def _trainee_cards(centre):
    """Return the CQCs of a centre's trainees (and of the centres attached to it), newest first: what it is invoiced."""
    centres = Organisation.select(Organisation.id).where((Organisation.id == centre.id) | (Organisation.principal == centre.id))
    return (
        Card.select(Card).join(Dossier).join(CqcRequest, on=(CqcRequest.dossier == Dossier.id)).join(Training)
        .where(Card.kind == CardKind.CQC, Training.centre.in_(centres))
        .order_by(Card.issued_on.desc(), Card.id.desc())
        .limit(PAGE_SIZE)
    )


def _choices(organisation):
    """Return the options of each filter."""
    procedures = {code for code, in Dossier.select(Procedure.code).join(Procedure)
                  .where(Dossier.organisation == organisation).distinct().tuples()}
    return {
        "etat": [(state.value, STATE_LABELS[state]) for state in RequestState],
        "demarche": [(code.value, name) for code, name in PROCEDURES if code in procedures],
        "conducteur": [(str(d.id), f"{d.last_name.upper()} {d.first_name}") for d in
                       CompanyDriver.select().where(CompanyDriver.organisation == organisation)
                       .order_by(CompanyDriver.last_name, CompanyDriver.first_name)],
        "auteur": [(str(u.id), u.full_name + (" (supprimé)" if u.deleted_at else "")) for u in
                   User.select().where(User.organisation == organisation).order_by(User.last_name, User.first_name)],
    }


@bp.route("/")
@menu_page("supervision.index")
def index():
    """Show the organisation's requests with their cards, filtered; « Exporter (CSV) » downloads them."""
    organisation = current_user.organisation
    chosen = {name: request.args.get(name, "")[:40] for name, _ in FILTERS}
    query = _requests(organisation, chosen)
    if request.args.get("format") == "csv":
        return _export(query.limit(MAX_EXPORT))
    page = requested_page()
    total = query.count()
    rows = list(query.paginate(page, PAGE_SIZE))
    return render_template(
        "public/supervision/index.html", rows=rows, cards=_cards_of(rows), total=total, page=page,
        pages=max(1, -(-total // PAGE_SIZE)), chosen=chosen, filters=FILTERS, choices=_choices(organisation),
        trainee_cards=list(_trainee_cards(organisation)) if organisation.kind == "centre" else [],
        driver_of=driver_of,
    )


def _cell(value):
    """Keep a spreadsheet from reading a cell as a formula (CSV injection)."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _export(query):
    rows = list(query)
    cards = _cards_of(rows)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["N° de demande", "Démarche", "Conducteur", "N° de permis", "Demande faite par", "Commencée le",
                     "Envoyée le", "Statut", "Cartes", "État des cartes", "Valables jusqu'au"])
    for dossier in rows:
        driver = driver_of(dossier)
        held = cards.get(dossier.id, [])
        writer.writerow([_cell(v) for v in (
            dossier.id, dossier.procedure.name, f"{driver.last_name.upper()} {driver.first_name}" if driver else "",
            driver.licence_number if driver else "", dossier.user.full_name, date_fr(dossier.created_at),
            date_fr(dossier.submitted_at) if dossier.state != RequestState.BROUILLON else "", dossier.state_label,
            " ".join(c.number for c in held), " ".join(c.state_label for c in held),
            " ".join(date_fr(c.expires_on) for c in held),
        )])
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="supervision.csv"'})
