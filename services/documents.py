"""The PDFs the platform issues: the training summary and the qualification certificate.

Templates under templates/pdf/ are rendered to HTML with Flask (every value autoescaped) and
converted by wkhtmltopdf through pdfkit, with JavaScript disabled and no access to local files:
a template that needs an image (a photo, a signature, a logo, a QR code) inlines it as a data:
URI with inline_image(). The Debian build of wkhtmltopdf runs an unpatched Qt: no header or
footer switches, so each page lays itself out in HTML/CSS (templates/pdf/base.html). Callers
store the bytes once (DESIGN §4, §6); nothing here writes files.

A PDF takes a second or more to render: it is never rendered while a database transaction is
open (its locks would be held meanwhile). Callers commit first, then render and store.
"""
import base64
import shutil

import pdfkit
from flask import render_template

from models import CARD_TRAININGS, INITIAL_TRAININGS, TrainingKind, db
from services import storage

#: Issuer shown on every document.
ISSUER = "Hub Pro Transport"
OPERATOR = "IN Groupe"

#: wkhtmltopdf options (DESIGN §6): no JavaScript, no local file (file:// is refused, and the
#: rendering fails rather than print a page without it), A4, UTF-8, quiet.
PDF_OPTIONS = {
    "page-size": "A4",
    "orientation": "Portrait",
    "encoding": "UTF-8",
    "margin-top": "12mm",
    "margin-bottom": "12mm",
    "margin-left": "14mm",
    "margin-right": "14mm",
    "disable-javascript": None,
    "disable-local-file-access": None,
    "quiet": None,
}

#: Training durations in hours (DESIGN §7).
DURATION_HOURS = {TrainingKind.FIMO: 140, TrainingKind.PASSERELLE: 35, TrainingKind.FCO: 35}

#: What each training is called in full.
KIND_LABELS = {
    TrainingKind.FIMO: "Formation initiale minimale obligatoire (FIMO)",
    TrainingKind.PASSERELLE: "Formation passerelle (qualification initiale)",
    TrainingKind.FCO: "Formation continue obligatoire (FCO)",
}

#: Driving-licence categories each qualification covers.
LICENCE_CATEGORIES = {
    "Marchandises": "C1, C1E, C, CE",
    "Voyageurs": "D1, D1E, D, DE",
}


def _wkhtmltopdf():
    path = shutil.which("wkhtmltopdf")
    if not path:
        raise RuntimeError(
            "wkhtmltopdf est introuvable : installez-le (paquet Debian « wkhtmltopdf ») "
            "pour produire les documents PDF."
        )
    return path


def inline_image(image):
    """Return an image (its bytes, or the path of a stored file) as a data: URI, the only way a PDF shows one."""
    data = storage.read(image) if isinstance(image, str) else bytes(image)
    kind = storage.sniff(data)
    if kind is None or kind[0] not in storage.IMAGES:
        raise ValueError("Seule une image JPEG ou PNG peut figurer dans un PDF.")
    return f"data:{kind[0]};base64,{base64.b64encode(data).decode('ascii')}"


def render_pdf(template, **context):
    """Render a template of templates/pdf/ to HTML (inline_image() at hand), then to PDF bytes with wkhtmltopdf."""
    if db.in_transaction():
        raise RuntimeError(f"{template} : un PDF ne se produit pas pendant une transaction (validez-la d'abord).")
    return html_to_pdf(render_template(template, inline_image=inline_image, **context), template)


def html_to_pdf(html, name="document"):
    """Convert HTML to PDF bytes with wkhtmltopdf, or raise RuntimeError saying why not."""
    configuration = pdfkit.configuration(wkhtmltopdf=_wkhtmltopdf())
    try:
        data = pdfkit.from_string(html, False, options=PDF_OPTIONS, configuration=configuration)
    except OSError as error:
        raise RuntimeError(f"wkhtmltopdf n'a pas pu produire le PDF ({name}) : {error}") from error
    if not data or not data.startswith(b"%PDF-"):
        raise RuntimeError(f"wkhtmltopdf n'a rien produit pour {name}.")
    return data


#: Past this many characters of free text (names, birth place, centre), the page uses smaller
#: type so that the longest values the columns allow (255 characters each) still fit one page.
COMPACT_AFTER = 400


def _compact(*values):
    return sum(len(value or "") for value in values) > COMPACT_AFTER


def reference(prefix, number):
    """Return a document number as RF-00000042 / CQ-00000042."""
    return f"{prefix}-{number:08d}"


def gives_new_cqc(training):
    """Does this training give the right to a new CQC (and so a qualification certificate)?"""
    return training.kind in CARD_TRAININGS


def _training_facts(training):
    kind = TrainingKind(training.kind)
    return {
        "title": training.title,
        "kind_label": KIND_LABELS[kind],
        "is_initial": kind in INITIAL_TRAININGS,
        "duration": DURATION_HOURS[kind],
        "licence_categories": LICENCE_CATEGORIES.get(training.category, ""),
    }


def summary_context(training):
    """Return what the « Récapitulatif de formation » shows."""
    return {
        "issuer": ISSUER,
        "operator": OPERATOR,
        "reference": reference("RF", training.id),
        "training": training,
        "centre": training.centre,
        "facts": _training_facts(training),
        "gives_new_cqc": gives_new_cqc(training),
        "issued_on": training.created_at,
        "compact": _compact(training.last_name, training.first_name, training.centre.name),
    }


def summary_pdf(training):
    """Return the PDF of a training summary (« récapitulatif de formation »)."""
    return render_pdf("pdf/summary.html", **summary_context(training))


def certificate_context(certificate):
    """Return what the « Certificat de qualification » shows: the holder as the account says."""
    training = certificate.training
    user = certificate.user
    driver = user.driver
    birth_place = ""
    if driver:
        birth_place = driver.birth_place
        if driver.birth_country and driver.birth_country.strip().lower() != "france":
            birth_place = f"{birth_place} ({driver.birth_country})"
    holder = {
        "last_name": user.last_name or training.last_name,
        "first_name": user.first_name or training.first_name,
        "birth_date": driver.birth_date if driver else training.birth_date,
        "birth_place": birth_place,
        "licence_number": driver.licence_number if driver else training.licence_number,
    }
    return {
        "issuer": ISSUER,
        "operator": OPERATOR,
        "reference": reference("CQ", certificate.id),
        "certificate": certificate,
        "training": training,
        "centre": training.centre,
        "facts": _training_facts(training),
        "holder": holder,
        "compact": _compact(holder["last_name"], holder["first_name"], birth_place, training.centre.name),
    }


def certificate_pdf(certificate):
    """Return the PDF of a qualification certificate (A4, valid 4 months, France only)."""
    return render_pdf("pdf/certificate.html", **certificate_context(certificate))
