"""Form pieces shared by every form (public flows and procedure steps): French messages and the checks of DESIGN §4."""
import datetime as dt
import re

from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_request_context, request
from flask_wtf import FlaskForm
from wtforms import DateField, PasswordField, StringField, TextAreaField, ValidationError
from wtforms.validators import DataRequired, Length, StopValidation

from models import normalize_email
from models import clock

REQUIRED = "Ce champ est obligatoire."
FORBIDDEN_CHARACTERS = "Ce champ contient des caractères non autorisés."
#: What a line of text holds at most: a CharField is varchar(255) on PostgreSQL, which refuses anything longer.
COLUMN_SIZE = 255
#: What a multi-line text holds at most when its form sets no smaller limit.
TEXT_SIZE = 4000
#: Control characters nobody types (C0 and DEL): refused in a line; a multi-line text keeps tabs and line breaks.
LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LICENCE_FORMATS = (re.compile(r"^\d{2}[A-Z]{2}\d{5}$"), re.compile(r"^\d{12}$"))


def required():
    return DataRequired(message=REQUIRED)


def max_length(n):
    return Length(max=n, message=f"{n} caractères au maximum.")


def refused_input(reason, field=None, size=None):
    """Log an input refused as malformed (what was sent, never the value itself)."""
    if has_request_context():
        where = f"{request.method} {request.path}" + (f", champ {field}" if field else "")
        current_app.logger.warning("Saisie refusée (%s) : %s%s", reason, where, f", {size} caractères" if size else "")


def typed_text(limit, controls):
    """Refuse, before any other check, a text longer than its column or holding control characters."""

    def check(form, field):
        value = field.data
        if not isinstance(value, str):
            return
        if controls.search(value):
            refused_input("caractères de contrôle", field.name, len(value))
            raise StopValidation(FORBIDDEN_CHARACTERS)
        if len(value) > limit:
            refused_input("trop long", field.name, len(value))
            raise StopValidation(f"{limit} caractères au maximum.")

    check.field_flags = {"maxlength": limit}
    return check


def guard_text(field):
    """Put typed_text first on a text field, at its column's size or its own smaller limit; a password is left as
    typed (hashed, never stored nor shown back; services.passwords bounds its length)."""
    if not isinstance(field, StringField) or isinstance(field, PasswordField):
        return field
    multi_line = isinstance(field, TextAreaField)
    limits = [v.max for v in field.validators if isinstance(v, Length) and v.max >= 0]
    limit = min([*limits, TEXT_SIZE if multi_line else COLUMN_SIZE])
    field.validators = [typed_text(limit, TEXT_CONTROLS if multi_line else LINE_CONTROLS), *field.validators]
    field.flags.maxlength = limit
    return field


class Form(FlaskForm):
    """The base of every public form: whatever is typed in a text field is checked by typed_text first, so no input
    reaches the database that it would refuse."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            return guard_text(super().bind_field(form, unbound_field, options))


def strip(value):
    """Trim what was typed and drop NUL characters (never meant, and refused by PostgreSQL in text); a field left out
    of the request is empty, never None (text columns are not nullable)."""
    if value is None:
        return ""
    return value.replace("\x00", "").strip() if isinstance(value, str) else value


def upper_compact(value):
    """Upper-case and drop spaces and NUL characters (licence numbers)."""
    return re.sub(r"[\s\x00]+", "", value).upper() if isinstance(value, str) else value


def email_address(form, field):
    """Check an address's shape (no DNS look-up) and keep it trimmed and lower-cased."""
    try:
        validate_email(field.data or "", check_deliverability=False)
    except EmailNotValidError:
        raise ValidationError("Adresse électronique invalide (exemple : prenom.nom@exemple.fr).")
    field.data = normalize_email(field.data)


def same_email_as(other):
    """Check the confirmation matches the address, compared case-insensitively."""

    def check(form, field):
        if normalize_email(field.data) != normalize_email(form[other].data):
            raise ValidationError("Les deux adresses électroniques ne sont pas identiques.")

    return check


def licence_number(form, field):
    """Accept the card format (13AA00002) and the older 12-digit number (942981379228)."""
    if not any(pattern.match(field.data or "") for pattern in LICENCE_FORMATS):
        raise ValidationError(
            "Le numéro de permis comporte 9 caractères sur le permis au format carte (ex. 13AA00002) "
            "ou 12 chiffres sur l'ancien permis rose (ex. 942981379228)."
        )


def birth_date(form, field):
    """A driver is born in the past and of working age."""
    if field.data is None:
        return
    today = clock.today()
    if field.data >= today:
        raise ValidationError("La date de naissance doit être dans le passé.")
    if field.data < dt.date(today.year - 100, 1, 1) or field.data > dt.date(today.year - 16, today.month, min(today.day, 28)):
        raise ValidationError("Vérifiez la date de naissance (format JJ/MM/AAAA).")


def french_mobile(form, field):
    """Keep a mobile number as +33XXXXXXXXX when it is a French mobile; leave it empty if none."""
    digits = re.sub(r"[\s.\-]", "", field.data or "")
    if not digits:
        field.data = ""
        return
    if digits.startswith("+33"):
        digits = "0" + digits[3:]
    elif digits.startswith("0033"):
        digits = "0" + digits[4:]
    if not re.match(r"^0[67]\d{8}$", digits):
        raise ValidationError("Numéro de mobile invalide : 10 chiffres commençant par 06 ou 07 (ex. 06 12 34 56 78).")
    field.data = "+33" + digits[1:]


def phone_number(form, field):
    """Accept a French phone number of 10 digits (or +33), stored as typed without separators."""
    digits = re.sub(r"[\s.\-]", "", field.data or "")
    if digits.startswith("+33"):
        digits = "0" + digits[3:]
    if not re.match(r"^0\d{9}$", digits):
        raise ValidationError("Numéro de téléphone invalide : 10 chiffres (ex. 01 23 45 67 89).")
    field.data = digits


def postal_code(form, field):
    if not re.match(r"^\d{5}$", (field.data or "").replace(" ", "")):
        raise ValidationError("Le code postal comporte 5 chiffres.")
    field.data = field.data.replace(" ", "")


class DateInput(DateField):
    """A date typed as 16/06/1990 or picked in the browser's calendar (1990-06-16)."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format=["%Y-%m-%d", "%d/%m/%Y"], **kwargs)

    def process_formdata(self, valuelist):
        if not "".join(valuelist).strip():  # left empty: « obligatoire » (or optional) says it, not « invalide »
            self.data = None
            return
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = None
            raise ValueError("Date invalide : saisissez-la au format JJ/MM/AAAA.")

    def pre_validate(self, form):
        # An unreadable date says so, instead of « obligatoire » (DataRequired would clear the message).
        if self.process_errors:
            raise StopValidation()


class TypedDateInput(DateInput):
    """A date typed in a text box and shown back the French way (16/06/1990)."""

    def _value(self):
        if self.raw_data:
            return " ".join(self.raw_data)
        return self.data.strftime("%d/%m/%Y") if self.data else ""
