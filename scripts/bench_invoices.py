"""Measure how many invoices per second concurrent payment confirmations issue on PostgreSQL.

    createdb -h 127.0.0.1 -U postgres bench_invoices
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/bench_invoices \\
        .venv/bin/python scripts/bench_invoices.py [-n 200] [--workers 8] [--fake-pdf]
    dropdb -h 127.0.0.1 -U postgres bench_invoices

Recreates the tables of that database (its name must contain "bench"), creates N pending
payments, then WORKERS processes confirm them all at once through the provider's notification
path (services.payments.handle_notification: payment, invoice number, PDF by wkhtmltopdf, e-mail
queued, file submitted). Prints invoices per second and checks the numbers run 1..N with no gap
and no duplicate. --fake-pdf replaces wkhtmltopdf with a constant PDF to measure the database part.
"""
import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import urllib.parse
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SECRET = "bench-secret"


def make_app(url, storage):
    from app import create_app

    return create_app({
        "TESTING": True, "DATABASE_URL": url, "SECRET_KEY": "bench", "MAIL_SERVER": "", "STORAGE_DIR": storage,
        "PAYMENT_SECRET": SECRET, "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
    })


def prepare(url, storage, count):
    """Recreate the schema and create COUNT pending payments; return their signed 'paid' notifications."""
    import datetime as dt

    import models
    from models import MODELS, Driver, ProcedureCode, Product, Role, Tariff, User, db
    from services import payments, transitions

    app = make_app(url, storage)
    with app.app_context():
        db.connect(reuse_if_open=True)
        db.drop_tables(MODELS, safe=True, cascade=True)
        models.create_tables()
        Tariff.create(product=Product.CQC_REMPLACEMENT, amount_ht=Decimal("28.24"), vat_rate=Decimal("20"), start_date=dt.date(2023, 9, 1))
        drivers = []
        for n in range(min(count, 50)):
            user = User.create(email=f"bench{n}@exemple.fr", role=Role.DRIVER, last_name="Lefèvre", first_name=f"Éloïse{n}")
            Driver.create(user=user, birth_date=dt.date(1990, 3, 14), birth_place="Saint-Étienne", licence_number=f"13AA{n:05d}",
                          address="3 place de l'Église", postal_code="42000", city="Saint-Étienne")
            drivers.append(user)
        notifications = []
        for n in range(count):
            user = drivers[n % len(drivers)]
            payment = payments.checkout(transitions.open_dossier(ProcedureCode.CQC_PERTE, user), user, Product.CQC_REMPLACEMENT)
            fields = {"reference": payment.reference, "amount": str(payment.amount_cents), "currency": "EUR",
                      "status": "paid", "transaction": f"BENCH{n}"}
            fields["signature"] = payments.sign(fields)
            notifications.append(fields)
        db.close()
    return notifications


def worker(url, storage, batch, fake_pdf, start, results):
    """Confirm a batch of payments once every worker is ready; report how many and any error."""
    from models import db
    from services import documents, dossiers

    if fake_pdf:
        documents.render_pdf = lambda template, **context: b"%PDF-1.4\n" + context["invoice"].display_number.encode()
    app = make_app(url, storage)
    done, errors = 0, []
    with app.app_context():
        db.connect(reuse_if_open=True)
        start.wait()
        for fields in batch:
            try:
                dossiers.settle_payment(fields)
                done += 1
            except Exception as error:  # counted and reported: a benchmark must say what failed
                errors.append(repr(error))
        db.close()
    results.put((done, errors))


def check(url, storage, count):
    """Return (gapless, message) about the invoice numbers issued."""
    from models import Invoice, InvoiceSequence, Payment, PaymentStatus, db

    app = make_app(url, storage)
    with app.app_context():
        db.connect(reuse_if_open=True)
        numbers = [row.number for row in Invoice.select(Invoice.number).order_by(Invoice.number)]
        last = InvoiceSequence.get_by_id(1).last_number
        paid = Payment.select().where(Payment.status == PaymentStatus.PAID).count()
        db.close()
    gapless = numbers == list(range(1, count + 1)) and last == count and paid == count
    return gapless, f"{len(numbers)} factures, numéros {numbers[:1]}…{numbers[-1:]}, séquence à {last}, {paid} paiements payés"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="payments to confirm (200)")
    parser.add_argument("--workers", type=int, default=8, help="worker processes (8)")
    parser.add_argument("--fake-pdf", action="store_true", help="replace wkhtmltopdf by a constant PDF")
    args = parser.parse_args(argv)

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgresql://", "postgres://")):
        parser.error("DATABASE_URL doit désigner une base PostgreSQL (postgresql://…)")
    if "bench" not in urllib.parse.urlsplit(url).path:
        parser.error("le nom de la base doit contenir « bench » : ses tables sont recréées")

    with tempfile.TemporaryDirectory() as storage:
        notifications = prepare(url, storage, args.n)
        context = multiprocessing.get_context("spawn")
        start = context.Barrier(args.workers + 1)
        results = context.Queue()
        batches = [notifications[n::args.workers] for n in range(args.workers)]
        processes = [context.Process(target=worker, args=(url, storage, batch, args.fake_pdf, start, results))
                     for batch in batches]
        for process in processes:
            process.start()
        start.wait()  # every worker has its app and connection: go
        began = time.perf_counter()
        reports = [results.get(timeout=3600) for _ in processes]
        elapsed = time.perf_counter() - began
        for process in processes:
            process.join()
        gapless, summary = check(url, storage, args.n)

    done = sum(count for count, _ in reports)
    errors = [error for _, errs in reports for error in errs]
    pdf = "PDF factice" if args.fake_pdf else "PDF wkhtmltopdf"
    print(f"{done} paiements confirmés par {args.workers} processus en {elapsed:.2f} s ({pdf}) : "
          f"{done / elapsed:.1f} factures/s")
    print(("numérotation continue, sans trou ni doublon : " if gapless else "ÉCHEC de la numérotation : ") + summary)
    for error in errors[:10]:
        print("erreur :", error)
    return 0 if gapless and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
