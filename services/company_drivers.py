"""« Mes Conducteurs »: a company's drivers, added one by one or imported from a CSV file with a report per line."""
import csv
import io

from peewee import IntegrityError
from werkzeug.datastructures import MultiDict
from wtforms import StringField
from wtforms.validators import Optional

from models import COMPANY_DRIVER_FIELDS, CompanyDriver, db
from services import audit
from services import fields as f
from services.errors import Refused

#: CSV columns, in the order of the template offered for download (the header line names them).
CSV_COLUMNS = ("nom", "prenom", "date_naissance", "lieu_naissance", "numero_permis", "adresse",
               "complement_adresse", "code_postal", "commune", "email")
CSV_FIELDS = dict(zip(CSV_COLUMNS, COMPANY_DRIVER_FIELDS))
#: An import reads at most so many lines (a bigger file is split).
MAX_LINES = 2000
TAKEN = "Ce conducteur est déjà dans « Mes Conducteurs » (même numéro de permis)."


class DriverForm(f.Form):
    """A driver of « Mes Conducteurs », with the checks of the driver's own account form."""

    last_name = StringField("Nom", [f.required(), f.max_length(80)], filters=[f.strip])
    first_name = StringField("Prénom(s)", [f.required(), f.max_length(120)], filters=[f.strip])
    birth_date = f.DateInput("Date de naissance", [f.required(), f.birth_date])
    birth_place = StringField("Lieu de naissance", [f.required(), f.max_length(120)], filters=[f.strip])
    licence_number = StringField("Numéro de permis de conduire", [f.required(), f.licence_number],
                                 filters=[f.upper_compact])
    address = StringField("Adresse", [f.required(), f.max_length(200)], filters=[f.strip])
    address_extra = StringField("Complément d'adresse", [f.max_length(200)], filters=[f.strip])
    postal_code = StringField("Code postal", [f.required(), f.postal_code], filters=[f.strip])
    city = StringField("Commune", [f.required(), f.max_length(120)], filters=[f.strip])
    email = StringField("Adresse électronique (facultative)", [Optional(), f.email_address, f.max_length(254)],
                        filters=[f.strip])

    def values(self):
        return {name: self[name].data for name in COMPANY_DRIVER_FIELDS}


def add(organisation, by, values):
    """Add a driver to the company's list; the same licence number twice is refused."""
    try:
        with db.atomic():
            driver = CompanyDriver.create(organisation=organisation, added_by=by, **values)
    except IntegrityError:
        raise Refused(TAKEN, "licence_number")
    audit.record("Conducteur ajouté", driver.licence_number, organisation.siret, user=by)
    return driver


def modify(driver, by, values):
    """Correct a driver's record; cards already ordered keep the data printed on them."""
    try:
        with db.atomic():
            CompanyDriver.update(**values).where(CompanyDriver.id == driver.id).execute()
    except IntegrityError:
        raise Refused(TAKEN, "licence_number")
    audit.record("Conducteur modifié", values["licence_number"], driver.organisation.siret, user=by)


def search(organisation, term=""):
    """Return the company's drivers matching a name or licence number, by name."""
    query = CompanyDriver.select().where(CompanyDriver.organisation == organisation)
    if term:
        like = f"%{term}%"
        compact = f"%{f.upper_compact(term)}%"
        query = query.where((CompanyDriver.last_name ** like) | (CompanyDriver.first_name ** like)
                            | (CompanyDriver.licence_number ** compact))
    return query.order_by(CompanyDriver.last_name, CompanyDriver.first_name, CompanyDriver.id)


def import_csv(organisation, by, raw):
    """Import the drivers of a CSV file (UTF-8 or Latin-1, « ; » or « , »); return one (line, name, error) per line.

    Each line is checked as the form checks it and imported on its own: a wrong line never stops the others.
    """
    text = _decode(raw)
    lines = text.splitlines()
    if not lines:
        raise Refused("Le fichier est vide.", "file")
    dialect = csv.Sniffer().sniff(lines[0], delimiters=";,") if ";" in lines[0] or "," in lines[0] else csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in CSV_COLUMNS if column not in header and column not in ("complement_adresse", "email")]
    if missing:
        raise Refused("Colonnes manquantes dans la première ligne : " + ", ".join(missing)
                      + f". Colonnes attendues : {';'.join(CSV_COLUMNS)}.", "file")
    reader.fieldnames = header
    report = []
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_LINES:
            report.append((number, "", f"Ligne non lue : un import lit au plus {MAX_LINES} conducteurs."))
            break
        report.append((number, *_import_line(organisation, by, row)))
    return report


def _import_line(organisation, by, row):
    data = MultiDict({CSV_FIELDS[column]: (row.get(column) or "").strip() for column in CSV_COLUMNS})
    form = DriverForm(formdata=data, meta={"csrf": False})
    name = f"{data['first_name']} {data['last_name'].upper()}".strip()
    if not form.validate():
        return name, " ; ".join(f"{COMPANY_DRIVER_FIELDS[field]} : {errors[0]}" for field, errors in form.errors.items())
    try:
        add(organisation, by, form.values())
    except Refused as refusal:
        return name, refusal.message
    return name, ""


def _decode(raw):
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            # A NUL byte is never part of a driver's data (and PostgreSQL refuses it in text).
            return raw.decode(encoding).replace("\x00", "")
        except UnicodeDecodeError:
            continue
    raise Refused("Le fichier n'est pas un texte lisible : enregistrez-le au format CSV (UTF-8).", "file")
