"""« Mes Conducteurs »: a transport company's drivers, for whom its managers order tachograph driver cards."""
from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField

from models import CompanyDriver
from public_forms import COMPANY, account_required, requested_page
from services import company_drivers
from services import fields as f
from services.errors import Refused

bp = Blueprint("drivers", __name__, url_prefix="/mes-conducteurs")
company_only = account_required(*COMPANY)

#: Drivers listed per page.
PAGE_SIZE = 20
#: An imported file is at most this big (2,000 lines fit in far less).
MAX_IMPORT_BYTES = 1024 * 1024


class ImportForm(FlaskForm):
    file = FileField("Fichier CSV des conducteurs")


def _page(form, import_form, report=None, open_form=False):
    organisation = current_user.organisation
    term = f.strip(request.args.get("q", ""))[:100]
    page = requested_page()
    query = company_drivers.search(organisation, term)
    total = query.count()
    return render_template(
        "public/drivers/index.html", form=form, import_form=import_form, report=report, open_form=open_form,
        rows=list(query.paginate(page, PAGE_SIZE)), term=term, page=page, total=total,
        pages=max(1, -(-total // PAGE_SIZE)), contract=organisation.contract_in_force(),
        columns=";".join(company_drivers.CSV_COLUMNS),
    )


@bp.route("/", methods=["GET", "POST"])
@company_only
def index():
    """List, search and page through the company's drivers; « Ajouter un conducteur » adds one."""
    form = company_drivers.DriverForm()
    if form.validate_on_submit():
        try:
            driver = company_drivers.add(current_user.organisation, current_user._get_current_object(), form.values())
        except Refused as refusal:
            form[refusal.field].errors.append(refusal.message)
        else:
            flash(f"{driver.full_name} est ajouté(e) à « Mes Conducteurs ».", "success")
            return redirect(url_for(".index"))
    return _page(form, ImportForm(formdata=None), open_form=request.method == "POST")


@bp.route("/import", methods=["POST"])
@company_only
def import_file():
    """Import drivers from a CSV file and show the report of each line (imported, or refused and why)."""
    form = ImportForm()
    report = None
    if form.validate_on_submit():
        upload = form.file.data
        raw = upload.read(MAX_IMPORT_BYTES + 1) if upload is not None and upload.filename else b""
        if not raw:
            form.file.errors.append("Choisissez un fichier CSV.")
        elif len(raw) > MAX_IMPORT_BYTES:
            form.file.errors.append("Le fichier dépasse 1 Mo : importez vos conducteurs en plusieurs fichiers.")
        else:
            try:
                report = company_drivers.import_csv(current_user.organisation, current_user._get_current_object(), raw)
            except Refused as refusal:
                form.file.errors.append(refusal.message)
    return _page(company_drivers.DriverForm(formdata=None), form, report=report)


@bp.route("/<int:driver_id>/modifier", methods=["GET", "POST"])
@company_only
def edit(driver_id):
    """Correct a driver's record (a card already ordered keeps the data printed on it)."""
    driver = CompanyDriver.get_or_none(CompanyDriver.id == driver_id,
                                       CompanyDriver.organisation == current_user.organisation_id) or abort(404)
    form = company_drivers.DriverForm(obj=driver)
    if form.validate_on_submit():
        try:
            company_drivers.modify(driver, current_user._get_current_object(), form.values())
        except Refused as refusal:
            form[refusal.field].errors.append(refusal.message)
        else:
            flash(f"La fiche de {form.first_name.data} {form.last_name.data.upper()} est modifiée.", "success")
            return redirect(url_for(".index"))
    return render_template("public/drivers/edit.html", form=form, driver=driver)


@bp.route("/modele.csv")
@company_only
def template():
    """Download an empty CSV with the expected columns and one example line."""
    example = "MARTIN;Paul;19/08/1991;Lille;13AA00002;12 rue des Lilas;;59000;Lille;paul.martin@exemple.fr"
    body = ";".join(company_drivers.CSV_COLUMNS) + "\r\n" + example + "\r\n"
    return Response("\ufeff" + body, mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="modele-conducteurs.csv"'})
