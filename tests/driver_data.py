"""Data the driver-page tests build through the services: a centre, trainings, a CQC request, a card."""
import datetime as dt
import io

from werkzeug.datastructures import FileStorage

from models import Organisation, ProcedureCode, clock
from services import dossiers, trainings, uploads

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
PDF = b"%PDF-1.4\n%fake but well-typed\n"


def make_centre(n=1):
    """Create an approved training centre directly (its pages belong to another module)."""
    return Organisation.create(kind="centre", siret=f"4772808460{n:04d}", name=f"AFTRAL Lille {n}")


def record(centre, driver, kind="FIMO", category="Marchandises", ended_days_ago=5):
    """Record a training for a driver account, ended some days ago (its certificate is then valid)."""
    end = clock.today() - dt.timedelta(days=ended_days_ago)
    return trainings.record(
        centre, None, kind=kind, category=category, start_date=end - dt.timedelta(days=30), end_date=end,
        last_name=driver.last_name, first_name=driver.first_name, birth_date=driver.driver.birth_date,
        licence_number=driver.driver.licence_number,
    )


def upload(data, name):
    """Return what a browser posts for a chosen file."""
    return (io.BytesIO(data), name)


def file_storage(data, name):
    return FileStorage(io.BytesIO(data), filename=name)


def complete_request(user):
    """Start, fill in and send a CQC request through the services; return its file."""
    dossier = dossiers.start(ProcedureCode.CQC, user)
    request = dossier.cqc.get()
    request.identity_confirmed = True
    request.save()
    for kind, data, name in (("photo", JPEG, "photo.jpg"), ("signature", PNG, "signature.png"), ("identite", PDF, "cni.pdf")):
        uploads.save_document(dossier, kind, file_storage(data, name))
    dossiers.reach(dossier, request, "recapitulatif")
    dossiers.validate(dossier, user)
    return dossier


def fast_pdfs(monkeypatch):
    """Skip wkhtmltopdf where the PDF's content does not matter (test_documents covers it)."""
    from services import documents

    monkeypatch.setattr(documents, "summary_pdf", lambda training: PDF)
    monkeypatch.setattr(documents, "certificate_pdf", lambda certificate: PDF)
