"""Data the back-office and centre tests build through the services: a centre, trainings, sent CQC requests."""
import datetime as dt
import io
import struct
import zlib

from werkzeug.datastructures import FileStorage

from models import Approval, CqcRequest, Dossier, Organisation, ProcedureCode, Role, User, clock
from services import dossiers, passwords, trainings, uploads
from tests.conftest import TEST_PASSWORD

FORMATRANS = "47728084603753"


def png(width=24, height=32, rgb=(0, 0, 145)):
    """Return a small valid PNG of one colour."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def pdf(text="Carte nationale d'identite"):
    """Return a one-page valid PDF showing a line of text."""
    stream = f"BT /F1 18 Tf 40 760 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


PNG = png()
PDF = pdf()


def upload(data, name):
    """Return a file as an upload form gives it to the services."""
    return FileStorage(io.BytesIO(data), filename=name)


def make_centre(siret=FORMATRANS, name="FORMATRANS", categories=("Marchandises",), kinds="FIMO,Passerelle,FCO"):
    """Create a training centre and the approvals of its SIRET."""
    centre = Organisation.create(kind="centre", siret=siret, name=name)
    for category in categories:
        Approval.create(siret=siret, number=f"AGR-{category[:3]}", category=category, trainings=kinds,
                        email=f"dreal-{siret}@exemple.fr", granted_on=dt.date(2021, 12, 28))
    return centre


def make_member(organisation, role=Role.ORG_ADMIN, email=None):
    """Create a member of an organisation who can log in with TEST_PASSWORD."""
    return User.create(
        email=email or f"{role}-{organisation.siret}@exemple.fr", role=role, organisation=organisation,
        last_name="Durand", first_name="Claire", password_hash=passwords.hash_password(TEST_PASSWORD),
    )


def record_for(centre, user, kind="FIMO", category="Marchandises", ended_days_ago=3):
    """Record through the service a training for this driver account, ended some days ago."""
    end = clock.today() - dt.timedelta(days=ended_days_ago)
    return trainings.record(
        centre, None, kind=kind, category=category, start_date=end - dt.timedelta(days=30), end_date=end,
        last_name=user.last_name, first_name=user.first_name, birth_date=user.driver.birth_date,
        licence_number=user.driver.licence_number,
    )


def sent_request(user):
    """Start, fill in and send a CQC request through the services; return its file as staff load it."""
    dossier = dossiers.start(ProcedureCode.CQC, user)
    uploads.save_document(dossier, "photo", upload(PNG, "photo.png"))
    uploads.save_document(dossier, "signature", upload(png(60, 20, (20, 20, 20)), "signature.png"))
    uploads.save_document(dossier, "identite", upload(PDF, "cni.pdf"))
    CqcRequest.update(identity_confirmed=True).where(CqcRequest.dossier == dossier).execute()
    dossiers.validate(Dossier.get_by_id(dossier.id), user)
    return Dossier.get_by_id(dossier.id)
