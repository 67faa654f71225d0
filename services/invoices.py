"""Invoices and credit notes: one gapless chronological sequence, PDF rendered once and kept 10 years."""
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app

from models import (
    Product,
    Card, CqcRequest, Dossier, Invoice, InvoiceKind, InvoiceLine, InvoiceSequence, Organisation, Training, db,
)
from models import clock, deadlines
from services import audit, documents, formatting, outbox, storage

CENT = Decimal("0.01")
#: Invoices are payable within this many days.
PAYMENT_TERM_DAYS = 30
#: Invoices are kept (and their duplicates offered) this many years.
RETENTION_YEARS = 10


def seller():
    """Return the seller's identity printed on every invoice (configurable)."""
    config = current_app.config
    siren = config["SELLER_SIREN"]
    return {
        "name": config["SELLER_NAME"],
        "address": config["SELLER_ADDRESS"],
        "siren": siren,
        "vat_number": f"FR{int(siren + '12') % 97:02d}{siren}",
    }


def next_number():
    """Take the next number of the sequence, inside the caller's transaction (a rollback gives it back)."""
    InvoiceSequence.update(last_number=InvoiceSequence.last_number + 1).where(InvoiceSequence.id == 1).execute()
    return InvoiceSequence.get_by_id(1).last_number


def _money(value):
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def issue(*, lines, buyer_name, buyer_address, user=None, organisation=None, payment=None, credits=None,
          kind=InvoiceKind.INVOICE, period=None):
    """Number an invoice (or credit note) from (description, quantity, unit HT, VAT rate) lines.

    This runs inside the caller's transaction and holds the sequence's lock until it commits, so it
    does nothing slow: the PDF is rendered by render() once the number is committed.
    """
    with db.atomic():
        rows = [(d, q, _money(u), Decimal(v)) for d, q, u, v in lines]
        total_ht = sum((_money(q * u) for _, q, u, _ in rows), Decimal("0.00"))
        total_vat = sum((_money(q * u * v / 100) for _, q, u, v in rows), Decimal("0.00"))
        invoice = Invoice.create(
            number=next_number(), kind=kind, issued_at=clock.now(), due_on=clock.today() + dt.timedelta(days=PAYMENT_TERM_DAYS),
            user=user, organisation=organisation, payment=payment, credits=credits, buyer_name=buyer_name,
            buyer_address=buyer_address, total_ht=total_ht, total_vat=total_vat, total_ttc=total_ht + total_vat, period=period,
        )
        for description, quantity, unit, rate in rows:
            InvoiceLine.create(invoice=invoice, description=description, quantity=quantity, unit_ht=unit, vat_rate=rate,
                               total_ht=_money(quantity * unit))
    return invoice


def render(invoice):
    """Render and store the PDF of a numbered invoice, once, and e-mail the original with it."""
    invoice = Invoice.get_by_id(invoice.id)
    if invoice.pdf_path or invoice.pdf_sha256:
        return invoice  # already rendered (or purged after 10 years): an issued PDF is never re-rendered
    pdf = documents.render_pdf("pdf/invoice.html", invoice=invoice, lines=list(invoice.lines), seller=seller())
    path = storage.store(pdf, "factures", ".pdf")
    with db.atomic():
        stored = (
            Invoice.update(pdf_path=path, pdf_sha256=storage.digest(pdf))
            .where(Invoice.id == invoice.id, Invoice.pdf_sha256 == "")
            .execute()
        )
        if not stored:  # another process rendered it first: keep theirs
            storage.delete(path)
            return Invoice.get_by_id(invoice.id)
        invoice = Invoice.get_by_id(invoice.id)
        _send_original(invoice)
    return invoice


def render_pending():
    """Render the invoices numbered but not rendered yet (a process stopped in between); return how many."""
    pending = Invoice.select().where(Invoice.pdf_sha256 == "").order_by(Invoice.number)
    return sum(1 for invoice in pending if render(invoice))


def _send_original(invoice):
    recipient = invoice.user.email if invoice.user_id else _organisation_email(invoice.organisation)
    if not recipient:
        return
    message = f"{invoice.label} n° {invoice.display_number} du {formatting.date_fr(invoice.issued_at)} : " \
              f"{formatting.money(invoice.total_ttc)} TTC. " \
              "L'original est joint à ce message ; le duplicata reste disponible 10 ans dans « Mes factures »."
    outbox.queue_email(
        recipient, "notification", f"Votre {invoice.label.lower()} Hub Pro Transport n° {invoice.display_number}",
        attachments=[(invoice.pdf_path, f"{invoice.display_number}.pdf", "application/pdf")],
        user=invoice.user or type("Buyer", (), {"first_name": "", "last_name": invoice.buyer_name})(),
        message=message, details=[], link=outbox.public_url("invoices.index"),
    )


def _organisation_email(organisation):
    from models import Role, User

    admin = organisation.members.where(User.role == Role.ORG_ADMIN).order_by(User.id).first() if organisation else None
    return admin.email if admin else ""


def issue_for_payment(payment):
    """Issue the invoice of a confirmed payment, to the holder (billing address of the file if given)."""
    user = payment.user
    address = _billing_address(payment.dossier) or _postal_address(user)
    return issue(
        lines=[(payment.description, 1, payment.amount_ht, payment.vat_rate)],
        buyer_name=user.full_name, buyer_address=address, user=user, payment=payment,
    )


def _billing_address(dossier):
    replacement = dossier.replacement.first() if hasattr(dossier, "replacement") else None
    return "\n".join(replacement.billing_lines) if replacement and replacement.billing_address else ""


def _postal_address(user):
    driver = user.driver
    if driver is None:
        return ""
    return "\n".join(filter(None, [driver.address, driver.address_extra, f"{driver.postal_code} {driver.city}"]))


def credit_note(invoice, staff, reason):
    """Cancel an invoice with a credit note of the same amounts, in the same sequence."""
    if invoice.kind != InvoiceKind.INVOICE:
        raise ValueError("Un avoir ne se corrige pas par un autre avoir.")
    if invoice.credit_notes.exists():
        raise ValueError("Cette facture a déjà un avoir.")
    lines = [(f"Avoir sur la facture {invoice.display_number} – {line.description} ({reason})", line.quantity,
              -line.unit_ht, line.vat_rate) for line in invoice.lines]
    note = issue(lines=lines, buyer_name=invoice.buyer_name, buyer_address=invoice.buyer_address, user=invoice.user,
                 organisation=invoice.organisation, credits=invoice, kind=InvoiceKind.CREDIT_NOTE)
    audit.record("Avoir émis", note.display_number, f"sur {invoice.display_number} : {reason}", staff=staff)
    return render(note)


def monthly_centre_invoices(month_start):
    """Invoice each centre the CQCs issued in a month for its trainees (idempotent per centre and month)."""
    from models import Tariff

    month_end = (month_start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    issued = 0
    centres = (
        Organisation.select().distinct().join(Training).join(CqcRequest).join(Dossier).join(Card)
        .where(Card.issued_on >= month_start, Card.issued_on < month_end)
    )
    for centre in centres:
        if Invoice.select().where(Invoice.organisation == centre, Invoice.period == month_start).exists():
            continue
        cards = list(
            Card.select(Card).join(Dossier).join(CqcRequest).join(Training)
            .where(Training.centre == centre, Card.issued_on >= month_start, Card.issued_on < month_end)
            .order_by(Card.issued_on, Card.id)
        )
        lines = []
        for card in cards:
            tariff = Tariff.in_force(Product.CQC, card.issued_on)
            if tariff is None:
                continue
            lines.append((f"CQC n° {card.number} – {card.last_name} {card.first_name} – émise le {card.issued_on:%d/%m/%Y}",
                          1, tariff.amount_ht, tariff.vat_rate))
        if lines:
            render(issue(lines=lines, buyer_name=centre.name, buyer_address=_organisation_address(centre),
                         organisation=centre, period=month_start))
            issued += 1
    return issued


def _organisation_address(organisation):
    """Return an organisation's address as the Sirene register gives it, then its SIRET (buyer mentions)."""
    from models import SireneEstablishment

    row = SireneEstablishment.get_or_none(SireneEstablishment.siret == organisation.siret)
    lines = [row.address, f"{row.postal_code} {row.city}".strip()] if row else []
    return "\n".join([line for line in lines if line] + [f"SIRET {organisation.siret}"])


def purge_expired():
    """Erase the stored PDFs of invoices older than 10 years (the accounting rows keep the sequence)."""
    now = clock.now()
    # add_years, not replace(year=…): 29 February has no match ten years back.
    limit = dt.datetime.combine(deadlines.add_years(now.date(), -RETENTION_YEARS), now.time())
    purged = 0
    for invoice in Invoice.select().where(Invoice.issued_at < limit, Invoice.pdf_path.is_null(False)):
        storage.delete(invoice.pdf_path)
        Invoice.update(pdf_path=None).where(Invoice.id == invoice.id).execute()
        purged += 1
    return purged
