"""« Mes factures »: the holder's invoices and credit notes of the last 10 years, and their duplicates."""
import datetime as dt
import hmac
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote

from flask import Blueprint, Response, abort, current_app, render_template
from flask_login import current_user
from peewee import JOIN, fn

from models import ADMIN_ROLES, Invoice, InvoiceLine, Organisation, Role, User, with_total
from models import clock, deadlines
from models.prepared import prepared
from public_forms import ADMINS, Audience, account_required
from public_forms.paging import listed, page_of
from services import invoices, storage

bp = Blueprint("invoices", __name__)

#: Who has « Mes factures »: drivers for their own, organisation administrators for their organisation's.
AUDIENCES = (Audience.DRIVER, *ADMINS)


@bp.app_template_filter("vat_by_rate")
def vat_by_rate(lines):
    """Return [(rate, base HT, VAT)] of invoice lines, VAT rounded per line as services.invoices does (PDF)."""
    totals = {}
    for line in lines:
        base, vat = totals.get(line.vat_rate, (Decimal("0.00"), Decimal("0.00")))
        line_vat = (Decimal(line.total_ht) * Decimal(line.vat_rate) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        totals[line.vat_rate] = (base + Decimal(line.total_ht), vat + line_vat)
    return [(rate, base, vat) for rate, (base, vat) in sorted(totals.items())]


@bp.app_template_filter("rate_fr")
def rate_fr(rate):
    """Format a VAT rate as 20 % or 5,5 %."""
    text = f"{Decimal(rate):.2f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") + "\u00a0%"


def _scope_of(user):
    """Return whose invoices an account sees: ("own", its id), ("organisation", its organisation's id), or None."""
    if user.role == Role.DRIVER:
        return "own", user.id
    if user.role in ADMIN_ROLES and user.organisation_id:
        return "organisation", user.organisation_id
    return None


def _kept_since():
    return dt.datetime.combine(deadlines.add_years(clock.today(), -invoices.RETENTION_YEARS), dt.time())


def _visible(scope, owner_id, since):
    """The invoices of a scope issued since a day, with the organisation billed (no query per invoice)."""
    query = (Invoice.select(Invoice, Organisation)
             .join(Organisation, JOIN.LEFT_OUTER, on=(Invoice.organisation == Organisation.id))
             .where(Invoice.issued_at >= since))
    if scope == "own":
        return query.where(Invoice.user == owner_id)
    members = User.select(User.id).where(User.organisation == owner_id)
    return query.where((Invoice.organisation == owner_id) | Invoice.user.in_(members))


_page = prepared(lambda scope, owner_id, since, limit, offset: with_total(_visible(scope, owner_id, since))
                 .order_by(Invoice.issued_at.desc(), Invoice.number.desc()).limit(limit).offset(offset))
_count = prepared(lambda scope, owner_id, since: _visible(scope, owner_id, since).select(fn.COUNT(Invoice.id)))
_lines = prepared(lambda ids: InvoiceLine.select().where(InvoiceLine.invoice.in_(ids)).order_by(InvoiceLine.id))
_line_counts = prepared(lambda ids: InvoiceLine.select(InvoiceLine.invoice, fn.COUNT(InvoiceLine.id).alias("cards"))
                        .where(InvoiceLine.invoice.in_(ids)).group_by(InvoiceLine.invoice))


def visible_to(user):
    """Return the invoices and credit notes this account may see: its own (or its organisation's), 10 years back."""
    scope = _scope_of(user)
    if scope is None:
        return Invoice.select().where(Invoice.id < 0)
    return _visible(*scope, _kept_since())


@bp.route("/mes-factures")
@account_required(*AUDIENCES)
def index():
    """List a page of the invoices and credit notes with their amounts and a link to download each duplicate."""
    scope = _scope_of(current_user)
    since = _kept_since()
    page, items = (listed(lambda limit, offset: _page.rows(*scope, since, limit, offset),
                          lambda: _count.scalar(*scope, since)) if scope else (page_of(0), []))
    # A monthly invoice says how many cards it bills (its lines may be hundreds); any other one lists its lines.
    monthly = [invoice.id for invoice in items if invoice.period]
    single = [invoice.id for invoice in items if not invoice.period]
    counts = {row.invoice_id: row.cards for row in _line_counts.rows(monthly)} if monthly else {}
    lines = {}
    for line in _lines.rows(single) if single else []:
        lines.setdefault(line.invoice_id, []).append(line)
    return render_template("public/invoices/index.html", invoices=items, lines=lines, counts=counts, page=page)


@bp.route("/mes-factures/<int:invoice_id>/duplicata")
@account_required(*AUDIENCES)
def duplicate(invoice_id):
    """Serve the duplicate: the PDF stored when the invoice was issued, checked against its hash."""
    invoice = visible_to(current_user).where(Invoice.id == invoice_id).first()
    if invoice is None or not invoice.pdf_path:
        abort(404)
    try:
        data = storage.read(invoice.pdf_path)
    except (FileNotFoundError, ValueError):
        current_app.logger.error("Facture %s : PDF introuvable (%s)", invoice.display_number, invoice.pdf_path)
        abort(500)
    if not hmac.compare_digest(storage.digest(data), invoice.pdf_sha256 or ""):
        # An issued PDF never changes: a different hash means the stored file was altered.
        current_app.logger.error("Facture %s : l'empreinte SHA-256 du PDF stocké ne correspond plus", invoice.display_number)
        abort(500)
    filename = f"duplicata-{invoice.display_number}.pdf"
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f"attachment; filename=\"{filename}\"; filename*=UTF-8''{quote(filename)}"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
