"""« Finances »: tariffs, payments, invoices and credit notes, and the provider's notifications."""
import csv
import datetime as dt
import io
import json
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Response, abort, current_app, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_admin.form import BaseForm
from flask_login import current_user
from markupsafe import Markup, escape
from peewee import JOIN
from wtforms import DateField, DecimalField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, ValidationError
from wtforms.widgets import TextInput

from admin_views.base import ReadOnlyView, StaffModelView, day, when
from models import (
    PAYMENT_STATUS_LABELS, PRODUCTS, Invoice, InvoiceKind, Payment, PaymentNotification, PaymentStatus, Tariff,
)
from models import clock
from services import audit, invoices, storage
from services.formatting import money

#: The columns of the accounting export, in order.
CSV_HEADER = ["Numéro", "Type", "Date", "Client", "Montant HT", "TVA", "Montant TTC", "Référence du paiement"]
#: Characters a spreadsheet reads as the start of a formula in a text cell.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PARIS = ZoneInfo("Europe/Paris")


def _money(attribute):
    return lambda view, context, model, name: money(getattr(model, attribute))


class FrenchDecimalField(DecimalField):
    """A decimal typed the French way (28,24) or the English way (28.24), spaces and € ignored."""

    # A text box: a number box would refuse « 28,24 » in a browser set to English, and check its bounds in English.
    widget = TextInput()

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "decimal"})
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist):
        if valuelist:
            valuelist = [re.sub(r"[\s\u00a0\u202f€%]", "", valuelist[0]).replace(",", ".")]
        super().process_formdata(valuelist)

    def _value(self):
        return super()._value().replace(".", ",")


# --- Tariffs -------------------------------------------------------------------------------------


class TariffForm(BaseForm):
    product = SelectField("Produit", choices=list(PRODUCTS.items()))
    amount_ht = FrenchDecimalField("Montant HT (€)", [
        InputRequired("Indiquez le montant hors taxes."),
        NumberRange(min=Decimal("0.01"), message="Le montant doit être positif."),
    ], places=2)
    vat_rate = FrenchDecimalField("Taux de TVA (%)", [
        InputRequired("Indiquez le taux de TVA."),
        NumberRange(min=0, max=100, message="Le taux est compris entre 0 et 100 %."),
    ], default=Decimal("20"), places=2)
    start_date = DateField("Date d'effet", [DataRequired("Date invalide.")])

    def validate_amount_ht(self, field):
        if field.data is not None and field.data != field.data.quantize(Decimal("0.01")):
            raise ValidationError("Le montant a au plus deux décimales.")

    def validate_start_date(self, field):
        # A price already applied never changes: a new price starts today or later.
        if field.data and field.data < clock.today():
            raise ValidationError(
                "La date d'effet ne peut pas être passée : un nouveau prix s'applique à partir d'aujourd'hui au plus tôt."
            )


def _in_force(view, context, tariff, name):
    current = Tariff.in_force(tariff.product, clock.today())
    if current is not None and current.id == tariff.id:
        return Markup('<span class="badge badge-success">En vigueur</span>')
    if tariff.start_date > clock.today():
        return Markup('<span class="badge badge-info">À venir</span>')
    return Markup('<span class="badge badge-secondary">Remplacé</span>')


class TariffView(StaffModelView):
    """Dated prices: a new price is a new row from its start date; an existing tariff is never edited."""

    reference_data = True
    can_edit = False
    list_template = "admin/money/tariffs_list.html"
    column_list = ("product", "amount_ht", "vat_rate", "start_date", "in_force")
    column_labels = {
        "product": "Produit", "amount_ht": "Montant HT", "vat_rate": "Taux de TVA", "start_date": "Date d'effet",
        "in_force": "Situation",
    }
    column_formatters = {
        "product": lambda v, c, m, n: PRODUCTS.get(m.product, m.product),
        "amount_ht": _money("amount_ht"),
        "vat_rate": lambda v, c, m, n: f"{m.vat_rate:.2f}".rstrip("0").rstrip(".").replace(".", ",") + " %",
        "start_date": day("start_date"),
        "in_force": _in_force,
    }
    column_filters = [FilterEqual(Tariff.product, "Produit", options=list(PRODUCTS.items()))]
    column_default_sort = [("product", False), ("start_date", True)]

    def get_create_form(self):
        return TariffForm

    def create_model(self, form):
        tariff = Tariff.create(
            product=form.product.data, amount_ht=form.amount_ht.data.quantize(Decimal("0.01")),
            vat_rate=form.vat_rate.data, start_date=form.start_date.data,
        )
        audit.record("Tarif créé", PRODUCTS[tariff.product], f"{money(tariff.amount_ht)} HT, TVA {tariff.vat_rate} %, "
                     f"à partir du {tariff.start_date:%d/%m/%Y}")
        flash(f"Nouveau tarif « {PRODUCTS[tariff.product]} » : {money(tariff.amount_ht)} HT à partir du "
              f"{tariff.start_date:%d/%m/%Y}.", "success")
        return tariff

    def after_model_change(self, form, model, is_created):
        pass  # create_model writes its own audit line

    def update_model(self, form, model):
        flash("Un tarif ne se modifie pas : créez un nouveau tarif avec sa date d'effet.", "error")
        return False


# --- Payments and the provider's notifications ----------------------------------------------------------


def notifications_of(payment):
    """Return the notifications received for a payment (their payload names its reference), oldest first."""
    marker = json.dumps({"reference": payment.reference})[1:-1]
    return PaymentNotification.select().where(PaymentNotification.payload.contains(marker)).order_by(PaymentNotification.id)


def _payment_link(view, context, payment, name):
    return Markup(f'<a href="{url_for("payments_admin.payment", payment_id=payment.id)}">{escape(payment.reference)}</a>')


def _status_badge(status):
    colour = {PaymentStatus.PAID: "success", PaymentStatus.REFUSED: "danger"}.get(status, "secondary")
    return Markup(f'<span class="badge badge-{colour}">{escape(PAYMENT_STATUS_LABELS.get(status, status))}</span>')


class PaymentView(ReadOnlyView):
    """Every card payment, with what the provider notified."""

    local_admin_only = True
    column_display_actions = False
    column_list = ("created_at", "reference", "holder", "product", "amount", "status", "settled_at", "provider_reference")
    column_labels = {
        "created_at": "Créé le", "reference": "Référence", "holder": "Payeur", "product": "Objet", "amount": "Montant TTC",
        "status": "Statut", "settled_at": "Confirmé le", "provider_reference": "Transaction du prestataire",
    }
    column_formatters = {
        "created_at": when("created_at"),
        "settled_at": when("settled_at"),
        "reference": _payment_link,
        "holder": lambda v, c, m, n: f"{m.user.full_name} ({m.user.email})",
        "product": lambda v, c, m, n: m.description,
        "amount": lambda v, c, m, n: money(Decimal(m.amount_cents) / 100),
        "status": lambda v, c, m, n: _status_badge(m.status),
    }
    column_filters = [FilterEqual(Payment.status, "Statut", options=list(PAYMENT_STATUS_LABELS.items()))]
    column_searchable_list = (Payment.reference, Payment.provider_reference)
    search_hint = "Référence du paiement ou de la transaction"
    column_default_sort = ("id", True)

    @expose("/paiement/<int:payment_id>")
    def payment(self, payment_id):
        """Show a payment, its file, its invoice and every notification received for it."""
        payment = Payment.get_or_none(Payment.id == payment_id) or abort(404)
        return self.render(
            "admin/money/payment.html", payment=payment, invoice=payment.invoices.first(),
            notifications=list(notifications_of(payment)), status_badge=_status_badge,
            amount=Decimal(payment.amount_cents) / 100,
        )


def _payload_reference(view, context, row, name):
    try:
        return json.loads(row.payload).get("reference", "")
    except ValueError:
        return ""


class AcceptedFilter(FilterEqual):
    """Oui / Non on a boolean column (the value is compared as a boolean on every database)."""

    def validate(self, value):
        return value in ("0", "1")

    def clean(self, value):
        return value == "1"


class PaymentNotificationView(ReadOnlyView):
    """The log of the provider's server-to-server notifications: accepted ones and refused ones, with why."""

    local_admin_only = True
    column_display_actions = False
    column_list = ("received_at", "reference", "accepted", "reason", "payload")
    column_labels = {
        "received_at": "Reçue le", "reference": "Référence", "accepted": "Acceptée", "reason": "Décision",
        "payload": "Contenu reçu",
    }
    column_formatters = {
        "received_at": when("received_at"),
        "reference": _payload_reference,
        "accepted": lambda v, c, m, n: Markup('<span class="badge badge-success">Oui</span>') if m.accepted
        else Markup('<span class="badge badge-danger">Non</span>'),
        "payload": lambda v, c, m, n: Markup(f'<code class="small text-break">{escape(m.payload)}</code>'),
    }
    column_filters = [AcceptedFilter(PaymentNotification.accepted, "Acceptée", options=[("1", "Oui"), ("0", "Non")])]
    column_searchable_list = (PaymentNotification.payload, PaymentNotification.reason)
    search_hint = "Référence ou décision"
    column_default_sort = ("id", True)


# --- Invoices and credit notes -------------------------------------------------------------------------


class CreditNoteForm(BaseForm):
    reason = TextAreaField("Motif de l'avoir", [DataRequired("Indiquez le motif de l'avoir."), Length(max=200)])


def _number(view, context, invoice, name):
    url = url_for(".pdf", invoice_id=invoice.id)
    return Markup(f'<a class="text-nowrap" href="{url}" target="_blank" rel="noopener">{escape(invoice.display_number)}</a>')


def _row_actions(view, context, invoice, name):
    links = []
    if invoice.pdf_path:
        links.append(f'<a class="btn btn-outline-secondary btn-sm mr-1 mb-1" href="{url_for(".pdf", invoice_id=invoice.id)}" '
                     f'target="_blank" rel="noopener">Voir le PDF</a>')
        links.append(f'<a class="btn btn-outline-secondary btn-sm mr-1 mb-1" '
                     f'href="{url_for(".pdf", invoice_id=invoice.id, telecharger=1)}">Télécharger</a>')
    if view.can_credit(invoice):
        url = url_for(".credit", invoice_id=invoice.id)
        links.append(f'<a class="btn btn-outline-danger btn-sm mb-1" href="{url}">Émettre un avoir</a>')
    elif invoice.kind == InvoiceKind.INVOICE:
        note = invoice.credit_notes.first()
        if note:
            links.append(f'<span class="text-muted small">Annulée par {escape(note.display_number)}</span>')
    return Markup("".join(links))


def paris_midnight(day_):
    """Return the stored (naive UTC) moment at which a day starts in Paris."""
    return dt.datetime.combine(day_, dt.time(), tzinfo=PARIS).astimezone(dt.timezone.utc).replace(tzinfo=None)


def _decimal_fr(value):
    return f"{value:.2f}".replace(".", ",")


def _text_cell(value):
    # A buyer name starting like a formula must stay text in a spreadsheet (CSV injection).
    return "'" + value if value.startswith(FORMULA_START) else value


def export_rows(start, end):
    """Yield the CSV lines (header first) of the invoices and credit notes issued from start to end, Paris days included."""
    query = (
        Invoice.select(Invoice, Payment).join(Payment, JOIN.LEFT_OUTER, on=(Invoice.payment == Payment.id))
        .where(Invoice.issued_at >= paris_midnight(start), Invoice.issued_at < paris_midnight(end + dt.timedelta(days=1)))
        .order_by(Invoice.number)
    )
    yield CSV_HEADER
    for invoice in query.iterator():
        yield [
            invoice.display_number, invoice.label, clock.local(invoice.issued_at).strftime("%d/%m/%Y"),
            _text_cell(invoice.buyer_name), _decimal_fr(invoice.total_ht), _decimal_fr(invoice.total_vat),
            _decimal_fr(invoice.total_ttc), invoice.payment.reference if invoice.payment_id else "",
        ]


def csv_lines(rows):
    """Yield each row as a line of semicolon-separated UTF-8 text, the first one with a byte-order mark."""
    yield "\ufeff"
    for row in rows:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerow(row)
        yield buffer.getvalue()


class InvoiceView(ReadOnlyView):
    """Every invoice and credit note, newest first: PDF, credit note, accounting export."""

    local_admin_only = True
    column_display_actions = False
    list_template = "admin/money/invoices_list.html"
    column_list = ("number", "kind", "issued_at", "buyer_name", "total_ht", "total_vat", "total_ttc", "payment", "actions")
    column_labels = {
        "number": "N°", "kind": "Type", "issued_at": "Émise le", "buyer_name": "Client", "total_ht": "HT", "total_vat": "TVA",
        "total_ttc": "TTC", "payment": "Paiement", "actions": "Actions",
    }
    column_formatters = {
        "number": _number,
        "kind": lambda v, c, m, n: m.label,
        "issued_at": when("issued_at"),
        "total_ht": _money("total_ht"),
        "total_vat": _money("total_vat"),
        "total_ttc": _money("total_ttc"),
        "payment": lambda v, c, m, n: _payment_link(v, c, m.payment, n) if m.payment_id else "",
        "actions": _row_actions,
    }
    column_sortable_list = ("number", "issued_at", "total_ttc")
    column_default_sort = ("number", True)
    column_filters = [
        FilterEqual(Invoice.kind, "Type", options=[(InvoiceKind.INVOICE.value, "Facture"), (InvoiceKind.CREDIT_NOTE.value, "Avoir")])
    ]
    column_searchable_list = (Invoice.buyer_name,)
    search_hint = "N° (FA-00000012) ou client"

    def search_clause(self, term):
        digits = re.fullmatch(r"(?:(?:FA|AV)-?)?0*(\d{1,9})", term.strip().upper())
        clause = Invoice.buyer_name ** f"%{term}%"
        return (Invoice.number == int(digits.group(1))) | clause if digits else clause

    def can_credit(self, invoice):
        """May a credit note cancel this invoice (an invoice, not yet credited)?"""
        return invoice.kind == InvoiceKind.INVOICE and not invoice.credit_notes.exists()

    @expose("/pdf/<int:invoice_id>")
    def pdf(self, invoice_id):
        """Show (or, with ?telecharger=1, download) the stored PDF of an invoice or credit note."""
        invoice = self.get_one(invoice_id) or abort(404)
        if not invoice.pdf_path:
            flash(f"Le PDF de {invoice.display_number} a été effacé (conservation de 10 ans échue).", "error")
            return redirect(url_for(".index_view"))
        try:
            intact = storage.digest(storage.read(invoice.pdf_path)) == invoice.pdf_sha256
        except (FileNotFoundError, ValueError):
            intact = False
        if not intact:
            current_app.logger.error("Facture %s : PDF stocké absent ou altéré", invoice.display_number)
            abort(500)
        return storage.send_pdf(invoice.pdf_path, f"{invoice.display_number}.pdf", download=bool(request.args.get("telecharger")))

    @expose("/avoir/<int:invoice_id>", methods=["GET", "POST"])
    def credit(self, invoice_id):
        """Ask for the reason, then cancel the invoice with a credit note in the same sequence."""
        invoice = self.get_one(invoice_id) or abort(404)
        if not self.can_credit(invoice):
            flash(f"{invoice.display_number} ne peut pas recevoir d'avoir (avoir ou facture déjà annulée).", "error")
            return redirect(url_for(".index_view"))
        form = CreditNoteForm(request.form)
        if request.method == "POST" and form.validate():
            try:
                note = invoices.credit_note(invoice, current_user._get_current_object(), form.reason.data.strip())
            except ValueError as error:
                flash(str(error), "error")
            else:
                flash(f"Avoir {note.display_number} émis sur {invoice.display_number} ({money(note.total_ttc)} TTC) ; "
                      "l'original est envoyé au client.", "success")
            return redirect(url_for(".index_view"))
        return self.render("admin/money/credit_note.html", invoice=invoice, form=form, lines=list(invoice.lines))

    @expose("/export.csv")
    def export(self):
        """Export the invoices and credit notes of a period (du, au) as semicolon-separated UTF-8 with decimal commas."""
        try:
            start = dt.date.fromisoformat(request.args.get("du", ""))
            end = dt.date.fromisoformat(request.args.get("au", ""))
        except ValueError:
            flash("Indiquez la période à exporter (du … au …).", "error")
            return redirect(url_for(".index_view"))
        if end < start:
            flash("La fin de la période précède son début.", "error")
            return redirect(url_for(".index_view"))
        audit.record("Export des factures", f"du {start:%d/%m/%Y} au {end:%d/%m/%Y}")
        # Built in full (not streamed): the response must not outlive the request's database connection.
        body = "".join(csv_lines(export_rows(start, end))).encode("utf-8")
        name = f"factures-{start:%Y%m%d}-{end:%Y%m%d}.csv"
        return Response(body, mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store",
        })
