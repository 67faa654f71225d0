"""Invoices and credit notes: one gapless chronological sequence, PDF rendered once and kept 10 years."""
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from flask import current_app
from peewee import IntegrityError

from models import (
    Card, CardKind, CqcRequest, Dossier, Invoice, InvoiceKind, InvoiceLine, InvoiceSequence, Organisation, Product,
    Training, db,
)
from models import clock, deadlines
from services import audit, documents, formatting, outbox, storage

CENT = Decimal("0.01")
#: What each kind of card is invoiced as.
CARD_PRODUCTS = {CardKind.CQC: Product.CQC, CardKind.TACHY_CONDUCTEUR: Product.TACHY_CONDUCTEUR,
                 CardKind.TACHY_ENTREPRISE: Product.TACHY_ENTREPRISE}
#: Invoices are payable within this many days.
PAYMENT_TERM_DAYS = 30
#: Invoices are kept (and their duplicates offered) this many years (models/deadlines.py).
RETENTION_YEARS = deadlines.INVOICE_KEPT_YEARS
#: Invoice PDFs erased together: their files, then one UPDATE.
PURGE_BATCH = 500


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
        InvoiceLine.insert_many(
            [(invoice.id, description, quantity, unit, rate, _money(quantity * unit)) for description, quantity, unit, rate in rows],
            fields=[InvoiceLine.invoice, InvoiceLine.description, InvoiceLine.quantity, InvoiceLine.unit_ht,
                    InvoiceLine.vat_rate, InvoiceLine.total_ht],
        ).execute()
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
    """Return where an organisation's invoices go: its contract's billing contact, else its first administrator."""
    if organisation is None:
        return ""
    contract = organisation.contract_in_force()
    if contract is not None and contract.contact_email:
        return contract.contact_email
    admin = organisation.administrators().first()
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


def issue_credit_note(invoice, reason):
    """Number the credit note cancelling an invoice for the same amounts, in the same sequence (its PDF: render()).

    An invoice has one credit note at most: a second one, even from a request racing this one, is refused
    (ValueError) by the unique index on the invoice it credits.
    """
    if invoice.kind != InvoiceKind.INVOICE:
        raise ValueError("Un avoir ne se corrige pas par un autre avoir.")
    if invoice.credit_notes.exists():
        raise ValueError("Cette facture a déjà un avoir.")
    lines = [(f"Avoir sur la facture {invoice.display_number} – {line.description} ({reason})", line.quantity,
              -line.unit_ht, line.vat_rate) for line in invoice.lines]
    try:
        return issue(lines=lines, buyer_name=invoice.buyer_name, buyer_address=invoice.buyer_address, user=invoice.user,
                     organisation=invoice.organisation, credits=invoice, kind=InvoiceKind.CREDIT_NOTE)
    except IntegrityError:  # a double click: the other request's credit note was committed first (its number is given back)
        raise ValueError("Cette facture a déjà un avoir.") from None


def credit_note(invoice, staff, reason):
    """Cancel an invoice with a credit note of the same amounts, in the same sequence, for a member of staff."""
    note = issue_credit_note(invoice, reason)
    audit.record("Avoir émis", note.display_number, f"sur {invoice.display_number} : {reason}", staff=staff)
    return render(note)


def monthly_contract_invoices(month_start):
    """Invoice each contract holder the cards issued in a month under its contract, at the price frozen on each file
    (idempotent per holder and month): a centre's the CQCs of its trainees and of the centres attached to it, a
    company's the tachograph cards it ordered."""
    month_end = (month_start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    issued = (Card.issued_on >= month_start) & (Card.issued_on < month_end)
    # Only the columns the lines print: the month's cards are read in one query each, tens of thousands at 1 M drivers.
    printed = (Card.id, Card.kind, Card.number, Card.last_name, Card.first_name, Card.issued_on, Card.organisation,
               Dossier.id, Dossier.price_ht, Dossier.vat_rate, Dossier.submitted_at)
    cqc_cards = (
        Card.select(*printed, CqcRequest.id, Training.id, Organisation.id, Organisation.principal, Organisation.name,
                    Organisation.siret)
        .join(Dossier)
        .join(CqcRequest, on=(CqcRequest.dossier == Dossier.id), attr="cqc_request")
        .join(Training)
        .join(Organisation)
        .where(issued, Card.kind == CardKind.CQC)
    )
    tachograph_cards = Card.select(*printed).join(Dossier).where(issued, Card.kind != CardKind.CQC)
    by_payer = {}
    for card in cqc_cards:
        centre = card.dossier.cqc_request.training.centre
        by_payer.setdefault(centre.principal_id or centre.id, []).append(card)
    for card in tachograph_cards:
        by_payer.setdefault(card.organisation_id, []).append(card)
    count = 0
    tariffs = {}  # (product, day): the tariff then, read once
    for payer in Organisation.select().where(Organisation.id.in_(list(by_payer))).order_by(Organisation.id):
        if month_invoiced(payer, month_start):
            continue
        held = sorted(by_payer[payer.id], key=lambda card: (card.issued_on, card.id))
        lines = [line for line in (_card_line(card, payer, tariffs) for card in held) if line]
        if not lines:
            continue
        try:
            invoice = issue(lines=lines, buyer_name=payer.name, buyer_address=_organisation_address(payer),
                            organisation=payer, period=month_start)
        except IntegrityError:  # another run invoiced this holder's month first (unique holder and period)
            continue
        render(invoice)
        count += 1
    return count


def month_invoiced(organisation, month_start):
    """Has this contract holder's invoice of this month been issued?"""
    return Invoice.select().where(Invoice.organisation == organisation, Invoice.period == month_start).exists()


def _card_line(card, payer, tariffs):
    """Return the invoice line of a card: the price frozen on its file (older files: the tariff of their sending day)."""
    from models import Tariff

    dossier = card.dossier
    if dossier.price_ht is not None:
        unit, rate = dossier.price_ht, dossier.vat_rate
    else:
        key = (CARD_PRODUCTS[card.kind], dossier.submitted_at.date())
        if key not in tariffs:
            tariffs[key] = Tariff.in_force(*key)
        tariff = tariffs[key]
        if tariff is None:
            return None
        unit, rate = tariff.amount_ht, tariff.vat_rate
    if card.kind != CardKind.CQC:
        return (f"{card.kind_label} n° {card.number} – {card.holder_name} – émise le {card.issued_on:%d/%m/%Y}",
                1, unit, rate)
    centre = dossier.cqc_request.training.centre
    where = f" – {centre.name} (SIRET {centre.siret})" if centre.id != payer.id else ""
    return (f"CQC n° {card.number} – {card.last_name} {card.first_name} – émise le {card.issued_on:%d/%m/%Y}{where}",
            1, unit, rate)


def _organisation_address(organisation):
    """Return an organisation's billing address (its contract's, else the Sirene register's), then its SIRET."""
    from models import SireneEstablishment

    contract = organisation.contract_in_force()
    if contract is not None:
        lines = contract.billing_lines
    else:
        row = SireneEstablishment.get_or_none(SireneEstablishment.siret == organisation.siret)
        lines = [row.address, f"{row.postal_code} {row.city}".strip()] if row else []
    return "\n".join([line for line in lines if line] + [f"SIRET {organisation.siret}"])


def purge_expired():
    """Erase the stored PDFs of invoices older than 10 years (the accounting rows keep the sequence)."""
    now = clock.now()
    # add_years, not replace(year=…): 29 February has no match ten years back.
    limit = dt.datetime.combine(deadlines.add_years(now.date(), -RETENTION_YEARS), now.time())
    due = Invoice.select(Invoice.id, Invoice.pdf_path).where(Invoice.issued_at < limit, Invoice.pdf_path.is_null(False))
    purged = 0
    while True:
        batch = list(due.order_by(Invoice.issued_at).limit(PURGE_BATCH))
        if not batch:
            return purged
        # The files first: a run stopped halfway leaves rows that the next run erases again (deleting is idempotent).
        for invoice in batch:
            storage.delete(invoice.pdf_path)
        Invoice.update(pdf_path=None).where(Invoice.id.in_([invoice.id for invoice in batch])).execute()
        purged += len(batch)
