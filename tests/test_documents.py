"""The issued PDFs: training summary and qualification certificate, read back as text."""
import datetime as dt
import io
import shutil

import pytest
from flask import render_template
from pypdf import PdfReader

from models import Certificate, Organisation, Training
from services import documents

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
