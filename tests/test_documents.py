"""The issued PDFs: training summary and qualification certificate, read back as text; no local file ever
read into one; images inlined; never rendered inside a transaction."""
import datetime as dt
import io
import shutil
import subprocess

import jinja2
import pytest
from flask import render_template
from pypdf import PdfReader

from models import Certificate, Organisation, Training, db
from services import documents, storage
from tests.cqc_files import png

BIRTH = dt.date(1990, 3, 14)


@pytest.fixture
def wkhtmltopdf():
    if shutil.which("wkhtmltopdf") is None:
        pytest.skip("wkhtmltopdf n'est pas installé")


@pytest.fixture
def centre(app):
    return Organisation.create(kind="centre", siret="47728084603753", name="FORMATRANS")


@pytest.fixture
def make_training(centre):
    def make(user=None, kind="FIMO", category="Marchandises", last_name="Lefèvre-Müller", first_name="Éloïse"):
        return Training.create(
            centre=centre, kind=kind, category=category,
            start_date=dt.date(2023, 5, 9), end_date=dt.date(2023, 6, 16),
            last_name=last_name, first_name=first_name, birth_date=BIRTH,
            licence_number="13AA00002", user=user,
            # 10:00 UTC is noon in Paris: the summary is issued on 16/06/2023.
            created_at=dt.datetime(2023, 6, 16, 10, 0),
        )

    return make


@pytest.fixture
def make_certificate(make_driver, make_training):
    def make(last_name="Lefèvre-Müller", first_name="Éloïse", **identity):
        identity.setdefault("birth_place", "Saint-Étienne")
        user = make_driver(state="active", last_name=last_name, first_name=first_name, birth_date=BIRTH,
                           licence_number="13AA00002", **identity)
        training = make_training(user=user, last_name=last_name, first_name=first_name)
        return Certificate.create(training=training, user=user, issued_on=dt.date(2023, 6, 16),
                                  expires_on=dt.date(2023, 10, 16))

    return make


def read_pdf(data):
    """Return the pages of a PDF and its text with whitespace collapsed to single spaces."""
    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    text = " ".join(page.extract_text() for page in reader.pages)
    return reader.pages, " ".join(text.split())


def test_summary_pdf_reads_back(wkhtmltopdf, make_training):
    training = make_training()

    pages, text = read_pdf(documents.summary_pdf(training))

    assert len(pages) == 1
    assert float(pages[0].mediabox.width) == pytest.approx(595, abs=1)  # A4 portrait
    assert float(pages[0].mediabox.height) == pytest.approx(842, abs=1)
    for expected in [
        "Récapitulatif de formation",
        f"RF-{training.id:08d}",
        "délivré le 16/06/2023",
        "Hub Pro Transport", "IN Groupe",
        "FORMATRANS", "477 280 846 03753",
        "LEFÈVRE-MÜLLER", "Éloïse", "14/03/1990", "13AA00002",
        "FIMO Marchandises", "Formation initiale minimale obligatoire",
        "du 09/05/2023 au 16/06/2023", "140 heures",
        "Donne droit à une nouvelle CQC Oui",
        "conservé sans limite de durée",
    ]:
        assert expected in text, expected


def test_fco_summary_says_35_hours_and_6_years(wkhtmltopdf, make_training):
    training = make_training(kind="FCO", category="Voyageurs")

    pages, text = read_pdf(documents.summary_pdf(training))

    assert len(pages) == 1
    assert "FCO Voyageurs" in text
    assert "35 heures" in text
    assert "Formation continue" in text
    assert "pendant 6 ans" in text
    assert "D1, D1E, D, DE" in text


@pytest.mark.parametrize("kind, hours", [("FIMO", 140), ("Passerelle", 35), ("FCO", 35)])
def test_summary_durations_and_cqc_right(make_training, kind, hours):
    context = documents.summary_context(make_training(kind=kind))

    assert context["facts"]["duration"] == hours
    assert context["gives_new_cqc"] is True
    assert context["facts"]["is_initial"] is (kind != "FCO")


def test_certificate_pdf_reads_back(wkhtmltopdf, make_certificate):
    certificate = make_certificate()

    pages, text = read_pdf(documents.certificate_pdf(certificate))

    assert len(pages) == 1
    assert float(pages[0].mediabox.height) == pytest.approx(842, abs=1)
    for expected in [
        "RÉPUBLIQUE", "FRANÇAISE",
        "Certificat de qualification",
        f"CQ-{certificate.id:08d}",
        "LEFÈVRE-MÜLLER", "Éloïse",
        "14/03/1990 à Saint-Étienne",
        "13AA00002",
        "Marchandises", "Formation initiale minimale obligatoire (FIMO)", "FORMATRANS",
        "Délivré le 16/06/2023",
        "Valable jusqu'au 16/10/2023",
        "valeur probatoire de 4 mois",
        "valable uniquement sur le territoire français",
        ("Ce certificat permet de conduire dans l'attente de la délivrance de la carte de "
         "qualification de conducteur (CQC)"),
        "Code communautaire harmonisé 95",
    ]:
        assert expected in text, expected


def test_certificate_shows_a_foreign_birth_country(make_certificate):
    certificate = make_certificate(birth_place="Casablanca", birth_country="Maroc")

    assert documents.certificate_context(certificate)["holder"]["birth_place"] == "Casablanca (Maroc)"


def test_values_are_escaped_not_markup(wkhtmltopdf, make_certificate):
    certificate = make_certificate(last_name="<b>X</b>", first_name='<img src="file:///etc/passwd">Zoé',
                                   birth_place="<script>alert(1)</script>")

    html = render_template("pdf/certificate.html", **documents.certificate_context(certificate))
    assert "&lt;B&gt;X&lt;/B&gt;" in html
    assert "<B>" not in html and "<img" not in html and "<script>" not in html

    pages, text = read_pdf(documents.certificate_pdf(certificate))
    assert len(pages) == 1
    assert "<B>X</B>" in text
    assert '<img src="file:///etc/passwd">Zoé' in text
    assert "<script>alert(1)</script>" in text

    pages, text = read_pdf(documents.summary_pdf(certificate.training))
    assert len(pages) == 1
    assert "<B>X</B>" in text


@pytest.mark.parametrize("length", [40, 120, 255])
def test_long_values_stay_on_one_page(wkhtmltopdf, make_certificate, length):
    """Up to the 255 characters the columns allow, names and centre never push onto a page 2."""
    long = ("Marie-Éléonore de La Tour d'Auvergne " * 8)[:length]
    certificate = make_certificate(last_name=long, first_name=long, birth_place=long, birth_country="Maroc")
    Organisation.update(name=long).execute()
    certificate = Certificate.get_by_id(certificate.id)

    pages, text = read_pdf(documents.certificate_pdf(certificate))
    assert len(pages) == 1
    assert "Valable jusqu'au 16/10/2023" in text
    pages, text = read_pdf(documents.summary_pdf(certificate.training))
    assert len(pages) == 1
    assert "140 heures" in text


def test_missing_wkhtmltopdf_is_a_clear_error(make_certificate, monkeypatch):
    certificate = make_certificate()
    monkeypatch.setattr(documents.shutil, "which", lambda name: None)

    with pytest.raises(RuntimeError, match="wkhtmltopdf est introuvable"):
        documents.certificate_pdf(certificate)


# --- No local file, images inlined, outside transactions ----------------------------------------------------

#: A template that tries every way HTML has to pull a local file into the page.
HOSTILE = """<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="file://{path}"></head><body>
<p>Avant</p>
<img src="file:///etc/passwd"><img src="file://{path}">
<iframe src="file:///etc/passwd" width="600" height="200"></iframe>
<iframe src="file://{path}" width="600" height="200"></iframe>
<object data="file://{path}" type="text/plain" width="600" height="200"></object>
<embed src="file://{path}" type="text/plain">
<p>Après</p>
</body></html>"""


def pdftotext(data):
    """Return the text of a PDF as poppler's pdftotext reads it."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) n'est pas installé")
    return subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()


def wkhtmltopdf_with(html, tmp_path, **changes):
    """Convert with the documents' options changed (False drops one), keeping the PDF wkhtmltopdf writes despite errors."""
    arguments = [shutil.which("wkhtmltopdf")]
    for name, value in {**documents.PDF_OPTIONS, **changes}.items():
        if value is not False:
            arguments += [f"--{name}"] + ([value] if value is not None else [])
    output = tmp_path / "sortie.pdf"
    subprocess.run([*arguments, "-", str(output)], input=html.encode(), capture_output=True)
    return output.read_bytes()


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text("root:x:0:0 MARQUEUR-SECRET-4242\n")
    return str(path)


@pytest.fixture
def pdf_templates(app):
    """Add templates under pdf/ for one test, next to the application's."""
    extra = {}
    original = app.jinja_env.loader
    app.jinja_env.loader = jinja2.ChoiceLoader([jinja2.DictLoader(extra), original])
    app.jinja_env.cache.clear()
    yield extra
    app.jinja_env.loader = original
    app.jinja_env.cache.clear()


def test_local_file_access_is_off():
    assert "enable-local-file-access" not in documents.PDF_OPTIONS
    assert "disable-local-file-access" in documents.PDF_OPTIONS and "disable-javascript" in documents.PDF_OPTIONS


def test_a_template_reaching_for_local_files_gives_no_pdf(wkhtmltopdf, pdf_templates, secret_file):
    pdf_templates["pdf/hostile.html"] = HOSTILE.replace("{path}", secret_file)
    with pytest.raises(RuntimeError, match="wkhtmltopdf n'a pas pu produire le PDF"):
        documents.render_pdf("pdf/hostile.html")


def test_even_a_pdf_made_despite_the_errors_holds_no_local_file(wkhtmltopdf, secret_file, tmp_path):
    html = HOSTILE.replace("{path}", secret_file)
    # Control: with local files allowed (the former options), the file's text ends up in the PDF.
    assert "MARQUEUR-SECRET-4242" in pdftotext(wkhtmltopdf_with(
        html, tmp_path, **{"disable-local-file-access": False, "enable-local-file-access": None}))
    # With the documents' options, the PDF wkhtmltopdf still writes past the refused loads holds nothing of the files.
    text = pdftotext(wkhtmltopdf_with(html, tmp_path, **{"load-error-handling": "ignore"}))
    assert "Avant" in text and "Après" in text
    assert "MARQUEUR-SECRET-4242" not in text and "root:x:0:0" not in text


def test_markup_typed_into_a_field_stays_text(wkhtmltopdf, make_training):
    training = make_training(last_name='<img src="file:///etc/passwd"><iframe src=file:///etc/passwd>')
    text = " ".join(pdftotext(documents.summary_pdf(training)).split())
    assert "root:x:0:0" not in text and "<IFRAME SRC=FILE:///ETC/PASSWD>" in text.upper()


def test_an_inlined_image_is_drawn(wkhtmltopdf, pdf_templates, app):
    if shutil.which("pdfimages") is None:
        pytest.skip("pdfimages (poppler-utils) n'est pas installé")
    pdf_templates["pdf/photo.html"] = (
        '<!doctype html><html><body><p>Photo du titulaire</p><img src="{{ inline_image(photo) }}" width="120">'
        '<img src="{{ inline_image(stored) }}" width="60"></body></html>'
    )
    stored = storage.store(png(60, 80, (0, 0, 145)), "essais", ".png")
    data = documents.render_pdf("pdf/photo.html", photo=png(120, 80, (200, 30, 30)), stored=stored)
    listing = subprocess.run(["pdfimages", "-list", "-"], input=data, capture_output=True, check=True).stdout.decode()
    sizes = [tuple(line.split()[3:5]) for line in listing.splitlines()[2:]]
    assert sizes == [("120", "80"), ("60", "80")]
    assert "Photo du titulaire" in pdftotext(data)


def test_only_images_are_inlined(app):
    assert documents.inline_image(png()).startswith("data:image/png;base64,iVBORw0KGgo")
    for data in (b"%PDF-1.4 ...", b"<svg onload=alert(1)>", b""):
        with pytest.raises(ValueError, match="image JPEG ou PNG"):
            documents.inline_image(data)


def test_no_pdf_is_rendered_inside_a_transaction(wkhtmltopdf, make_training):
    training = make_training()
    with db.atomic():
        with pytest.raises(RuntimeError, match="pendant une transaction"):
            documents.summary_pdf(training)
    assert documents.summary_pdf(training).startswith(b"%PDF-")
