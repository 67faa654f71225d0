"""The pages every footer links to: terms (CGU, CGV), privacy policy, legal notice, accessibility, FAQ, about us."""
import datetime as dt
from decimal import Decimal

from flask import Blueprint, current_app, render_template, url_for
from markupsafe import Markup

from models import PRODUCTS, Product, Tariff, clock, deadlines
from services import invoices, legal, payments
from services.errors import PaymentError

bp = Blueprint("legal", __name__)

#: The words of a consent box's label that link to its document: (first words, abbreviation ending them, page).
CONSENT_LINKS = {
    "cgu": ("conditions générales d'utilisation", "(CGU)", "legal.cgu"),
    "rgpd": ("politique de confidentialité", "(RGPD)", "legal.rgpd"),
    "cgv": ("conditions générales de vente", "(CGV)", "legal.cgv"),
}

#: The order the CGV's price table lists the products in.
PRICE_LIST = (Product.CQC, Product.CQC_REMPLACEMENT, Product.REEXPEDITION, Product.TACHY_CONDUCTEUR,
              Product.TACHY_ENTREPRISE)


def consent_label(code, label):
    """Return a consent box's label with its document's name linked (in a new tab), or the label as it is."""
    if code not in CONSENT_LINKS:
        return label
    words, abbreviation, endpoint = CONSENT_LINKS[code]
    start = label.find(words)
    if start < 0:  # a label configured in other words: all of it links
        start, end = 0, len(label.rstrip("."))
    else:
        closing = label.find(abbreviation, start)
        end = closing + len(abbreviation) if closing >= 0 else start + len(words)
    link = Markup('<a href="{}" target="_blank" rel="noopener">{}<span class="visually-hidden"> (nouvelle fenêtre)'
                  '</span></a>').format(url_for(endpoint), label[start:end])
    return Markup("{}{}{}").format(label[:start], link, label[end:])


def price_list(day):
    """Return the price of each product in force on a day and the next ones announced: (label, HT, VAT rate, TTC, from)."""
    rows = []
    for product in PRICE_LIST:
        try:
            amount_ht, vat_rate, cents = payments.price(product, day)
        except PaymentError:
            continue
        rows.append((PRODUCTS[product], amount_ht, vat_rate, Decimal(cents) / 100, None))
        for later in Tariff.select().where(Tariff.product == product, Tariff.start_date > day).order_by(Tariff.start_date):
            later_ht, later_rate, later_cents = payments.price(product, later.start_date)
            rows.append((PRODUCTS[product], later_ht, later_rate, Decimal(later_cents) / 100, later.start_date))
    return rows


@bp.route("/cgu")
def cgu():
    """Show the terms of use of the portal (CGU) in force."""
    return render_template("public/legal/cgu.html", version=legal.CGU, contact=legal.CONTACT_EMAIL)


@bp.route("/cgv")
def cgv():
    """Show the terms of sale (CGV) in force, with the prices of the tariffs in force."""
    today = clock.today()
    return render_template(
        "public/legal/cgv.html", version=legal.CGV, prices=price_list(today), today=today,
        seller=invoices.seller(), payment_term=invoices.PAYMENT_TERM_DAYS, retention_years=invoices.RETENTION_YEARS,
        contact=legal.CONTACT_EMAIL,
    )


@bp.route("/donnees-personnelles")
def rgpd():
    """Show the privacy policy (RGPD): controller, purposes, legal bases, retention periods, rights."""
    # The periods the retention job and the other sweeps apply (models/deadlines.py), never typed twice.
    retention = {
        "link_hours": deadlines.link_validity() // dt.timedelta(hours=1),
        "correction_days": deadlines.CORRECTION_LINK_VALIDITY.days,
        "token_days": deadlines.TOKEN_RETENTION.days,
        "draft_days": deadlines.DRAFT_ABANDONED.days,
        "draft_grace_days": deadlines.DRAFT_GRACE.days,
        "refused_months": deadlines.REFUSED_FILE_KEPT_MONTHS,
        "documents_months": deadlines.CARD_DOCUMENTS_KEPT_MONTHS,
        "unactivated_months": deadlines.UNACTIVATED_ACCOUNT_KEPT_MONTHS,
        "message_months": deadlines.MESSAGE_TEXT_KEPT_MONTHS,
        "audit_years": deadlines.AUDIT_LOG_KEPT_YEARS,
        "export_hours": deadlines.DATA_EXPORT_VALIDITY // dt.timedelta(hours=1),
        "fco_years": deadlines.FCO_SUMMARY_YEARS,
        "certificate_months": deadlines.CERTIFICATE_VALIDITY_MONTHS,
        "invoice_years": invoices.RETENTION_YEARS,
        "login_minutes": deadlines.LOGIN_WINDOW // dt.timedelta(minutes=1),
    }
    return render_template(
        "public/legal/rgpd.html", version=legal.RGPD, retention=retention, seller=invoices.seller(),
        contact=legal.CONTACT_EMAIL, dpo=legal.DPO_EMAIL,
    )


@bp.route("/mentions-legales")
def notice():
    """Show the legal notice: publisher, director of publication, host."""
    return render_template("public/legal/mentions.html", seller=invoices.seller(), contact=legal.CONTACT_EMAIL,
                           base_url=current_app.config["PUBLIC_BASE_URL"])


@bp.route("/accessibilite")
def accessibility():
    """Show the accessibility statement (RGAA): conformity, tests done, what is not accessible, how to report it."""
    return render_template("public/legal/accessibility.html", dated=legal.ACCESSIBILITY_STATEMENT,
                           contact=legal.CONTACT_EMAIL)


@bp.route("/foire-aux-questions")
def faq():
    """Show the frequently asked questions of drivers, centres and companies."""
    return render_template(
        "public/legal/faq.html", contact=legal.CONTACT_EMAIL,
        link_hours=deadlines.link_validity() // dt.timedelta(hours=1),
        certificate_months=deadlines.CERTIFICATE_VALIDITY_MONTHS, invoice_years=invoices.RETENTION_YEARS,
    )


@bp.route("/qui-sommes-nous")
def about():
    """Show who runs the portal and for whom: IN Groupe, for the French State."""
    return render_template("public/legal/about.html", seller=invoices.seller(), contact=legal.CONTACT_EMAIL)
