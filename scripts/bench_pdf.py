"""Time the qualification certificate PDF: render it N times on a temporary SQLite database.

    .venv/bin/python scripts/bench_pdf.py [-n 20] [--keep DIR]

Prints the mean and median seconds per PDF (one wkhtmltopdf process each); --keep writes the
last certificate and a training summary to DIR so they can be looked at.
"""
import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import models
from app import create_app
from models import Certificate, Driver, Organisation, Role, Training, User, db
from services import documents


def sample_certificate():
    """Create one centre, driver, training and certificate; return the certificate."""
    centre = Organisation.create(kind="centre", siret="47728084603753", name="FORMATRANS")
    user = User.create(email="eloise@exemple.fr", role=Role.DRIVER, last_name="Lefèvre-Müller", first_name="Éloïse")
    Driver.create(user=user, birth_date=dt.date(1990, 3, 14), birth_place="Saint-Étienne",
                  licence_number="13AA00002", address="12 rue des Lilas", postal_code="42000", city="Saint-Étienne")
    training = Training.create(
        centre=centre, kind="FIMO", category="Marchandises", start_date=dt.date(2023, 5, 9),
        end_date=dt.date(2023, 6, 16), last_name="Lefèvre-Müller", first_name="Éloïse",
        birth_date=dt.date(1990, 3, 14), licence_number="13AA00002", user=user,
    )
    return Certificate.create(training=training, user=user, issued_on=dt.date(2023, 6, 16),
                              expires_on=dt.date(2023, 10, 16))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="number of certificates to render (20)")
    parser.add_argument("--keep", metavar="DIR", help="write the last certificate and a summary there")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({
            "TESTING": True,
            "DATABASE_URL": "sqlite:///" + os.path.join(tmp, "bench.sqlite3"),
            "SECRET_KEY": "bench",
            "MAIL_SERVER": "",
            "STORAGE_DIR": os.path.join(tmp, "files"),
        })
        with app.app_context():
            db.connect(reuse_if_open=True)
            models.create_tables()
            certificate = sample_certificate()
            documents.certificate_pdf(certificate)  # warm-up (templates compiled, disk cache)
            timings = []
            for _ in range(args.n):
                start = time.perf_counter()
                data = documents.certificate_pdf(certificate)
                timings.append(time.perf_counter() - start)
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                with open(os.path.join(args.keep, "certificate.pdf"), "wb") as handle:
                    handle.write(data)
                with open(os.path.join(args.keep, "summary.pdf"), "wb") as handle:
                    handle.write(documents.summary_pdf(certificate.training))
            db.close()

    print(f"certificat de qualification : {args.n} PDF, {len(data)} octets chacun")
    print(f"moyenne {statistics.mean(timings):.3f} s, médiane {statistics.median(timings):.3f} s, "
          f"min {min(timings):.3f} s, max {max(timings):.3f} s par PDF")


if __name__ == "__main__":
    main()
