"""Form pieces shared by every form (public flows and procedure steps): French messages and the checks of DESIGN §4."""
import datetime as dt
import re

from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_request_context, request
from flask_wtf import FlaskForm
from wtforms import Field, PasswordField, StringField, TextAreaField, ValidationError
from wtforms.utils import unset_value
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
    if field.data < dt.date(today.year - 100, 1, 1):
        raise ValidationError(f"Vérifiez l'année de naissance : elle ne peut pas être antérieure à {today.year - 100}.")
    if field.data > dt.date(today.year - 16, today.month, min(today.day, 28)):
        raise ValidationError("Vérifiez la date de naissance : un conducteur a au moins 16 ans.")


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


class DateInput(Field):
    """A date typed the French way in three boxes, « Jour », « Mois », « Année » (the DSFR's date of birth), checked
    here with French messages; a single JJ/MM/AAAA or AAAA-MM-JJ value, as a CSV line brings it, is read too."""

    #: The boxes: name, label, digits at most.
    BOXES = (("day", "Jour", 2), ("month", "Mois", 2), ("year", "Année", 4))
    #: An earlier year is a typing slip (a birth, a training: no one types 1850 on purpose).
    FIRST_YEAR = 1900

    def __init__(self, label=None, validators=None, example="14 03 1985", **kwargs):
        super().__init__(label, validators, **kwargs)
        self.example = example
        #: What was typed in each box ({"day": …}), None when the request did not bring the boxes.
        self.parts = None
        #: The boxes a typing error is about (marked aria-invalid); none named (a rule refusing the date, such as a
        #: birth in the future): all three.
        self.invalid_parts = ()

    @property
    def noun(self):
        """Return the label as a sentence says it (« date de naissance »)."""
        text = self.label.text
        return text[:1].lower() + text[1:]

    @property
    def invalid_boxes(self):
        """Return the boxes to mark as wrong."""
        return self.invalid_parts or tuple(name for name, _, _ in self.BOXES)

    @property
    def error_anchor(self):
        """Return the id of the box an error summary links to (the first wrong one)."""
        return f"{self.id}-{self.invalid_boxes[0]}"

    def process(self, formdata, data=unset_value, extra_filters=None):
        self.parts = None
        if formdata is not None and any(f"{self.name}-{name}" in formdata for name, _, _ in self.BOXES):
            self.parts = {name: formdata.get(f"{self.name}-{name}", "") for name, _, _ in self.BOXES}
        super().process(formdata, data, extra_filters)

    def process_formdata(self, valuelist):
        self.invalid_parts = ()
        if self.parts is not None:
            self.data = self._from_parts()
        else:
            self.data = self._from_text(" ".join(valuelist).strip())

    def _from_text(self, text):
        if not text:  # left empty: « obligatoire » (or optional) says it, not « invalide »
            return None
        for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
            try:
                return dt.datetime.strptime(text, pattern).date()
            except ValueError:
                continue
        raise ValueError("Date invalide : saisissez-la au format JJ/MM/AAAA.")

    def _from_parts(self):
        typed = {name: strip(value) for name, value in self.parts.items()}
        if not any(typed.values()):
            return None
        example = f", par exemple {self.example}."
        wrong = tuple(name for name, value in typed.items() if LINE_CONTROLS.search(value))
        if wrong:
            refused_input("caractères de contrôle", self.name)
            self.invalid_parts = wrong
            raise ValueError(FORBIDDEN_CHARACTERS)
        missing = tuple(name for name, _, _ in self.BOXES if not typed[name])
        if missing:
            self.invalid_parts = missing
            words = {"day": "un jour", "month": "un mois", "year": "une année"}
            said = [words[name] for name in missing]
            raise ValueError(f"La {self.noun} doit comporter {' et '.join(said)}{example}")
        wrong = tuple(name for name, _, size in self.BOXES if not re.fullmatch(rf"\d{{1,{size}}}", typed[name], re.ASCII))
        if wrong:
            self.invalid_parts = wrong
            raise ValueError(f"Saisissez une {self.noun} valide{example}")
        day, month, year = (int(typed[name]) for name, _, _ in self.BOXES)
        if len(typed["year"]) != 4 or year < self.FIRST_YEAR:
            self.invalid_parts = ("year",)
            raise ValueError(f"Vérifiez l'année : saisissez-la en 4 chiffres, à partir de {self.FIRST_YEAR}{example}")
        try:
            return dt.date(year, month, day)
        except ValueError:
            self.invalid_parts = ("month",) if not 1 <= month <= 12 else ("day", "month")
            raise ValueError(f"Le {day:02d}/{month:02d}/{year} n'existe pas : saisissez une {self.noun} valide{example}")

    def pre_validate(self, form):
        # An unreadable date says so, instead of « obligatoire » (DataRequired would clear the message).
        if self.process_errors:
            raise StopValidation()

    def typed(self):
        """Return what each box shows: what was typed, else the date's day, month and year."""
        if self.parts is not None:
            return self.parts
        if isinstance(self.data, dt.date):
            return {"day": f"{self.data.day:02d}", "month": f"{self.data.month:02d}", "year": str(self.data.year)}
        raw = " ".join(getattr(self, "raw_data", None) or []).strip()
        pieces = re.split(r"[^0-9]+", raw) if raw else []
        if len(pieces) == 3 and len(pieces[0]) == 4:  # AAAA-MM-JJ
            pieces.reverse()
        if len(pieces) == 3:
            return dict(zip(("day", "month", "year"), pieces))
        return {"day": "", "month": "", "year": ""}
