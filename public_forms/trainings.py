"""« Mes formations » and « Mes certificats »: a driver's training summaries and qualification certificates."""
from flask import Blueprint, abort, render_template, request
from flask_login import current_user

from models import CATEGORIES, Certificate, Training
from models import clock
from public_forms import Audience, account_required
from services import storage

bp = Blueprint("trainings", __name__)


@bp.route("/mes-formations")
@account_required(Audience.DRIVER)
def index():
    """List the driver's training summaries, for one qualification when the driver holds both."""
    user = current_user._get_current_object()
    categories = [c for c in CATEGORIES if Training.summaries_of(user, c).exists()]
    category = request.args.get("qualification")
    if category not in categories:
        category = categories[0] if len(categories) > 1 else None
    summaries = list(Training.summaries_of(user, category).where(Training.summary_path.is_null(False)))
    return render_template(
        "public/trainings/index.html", summaries=summaries, categories=categories, category=category
    )


@bp.route("/mes-formations/<int:training_id>/recapitulatif.pdf")
@account_required(Audience.DRIVER)
def summary(training_id):
    """Serve a summary PDF to its holder: inline (new tab) or, with ?telecharger=1, as a download."""
    training = Training.get_or_none(Training.id == training_id, Training.user == current_user.id)
    if training is None or not training.summary_path:
        abort(404)
    # The 6-year rule applies to the file too, not only to the list.
    if not Training.summaries_of(current_user._get_current_object()).where(Training.id == training.id).exists():
        abort(404)
    name = f"recapitulatif-{training.kind}-{training.category}-{training.end_date:%Y%m%d}.pdf".lower()
    return storage.send_pdf(training.summary_path, name, download=bool(request.args.get("telecharger")))


@bp.route("/mes-certificats")
@account_required(Audience.DRIVER)
def certificates():
    """List the driver's qualification certificates with their validity."""
    items = list(
        Certificate.select(Certificate, Training)
        .join(Training)
        .where(Certificate.user == current_user.id)
        .order_by(Certificate.issued_on.desc(), Certificate.id.desc())
    )
    return render_template("public/trainings/certificates.html", certificates=items, today=clock.today())


@bp.route("/mes-certificats/<int:certificate_id>/certificat.pdf")
@account_required(Audience.DRIVER)
def certificate(certificate_id):
    """Download a qualification certificate, for its holder only."""
    item = Certificate.get_or_none(Certificate.id == certificate_id, Certificate.user == current_user.id)
    if item is None or not item.pdf_path:
        abort(404)
    return storage.send_pdf(item.pdf_path, f"certificat-de-qualification-{item.issued_on:%Y%m%d}.pdf", download=True)
