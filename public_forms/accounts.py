"""« Créer un compte »: the profile choice, the driver and organisation forms, the correction."""
from flask import Blueprint, current_app, jsonify, render_template, request
from wtforms import BooleanField, StringField
from wtforms.validators import Optional

from models import DRIVER_FIELDS, AccountState, Dossier, OrgKind, TokenPurpose
from public_forms import legal
from services import accounts, limits, tokens
from services import fields as f
from services.errors import Refused

bp = Blueprint("accounts", __name__, url_prefix="/creer-un-compte")


class DriverForm(f.Form):
    """The identity a driver gives; staff analyse it."""

    last_name = StringField("Nom", [f.required(), f.max_length(80)], filters=[f.strip])
    first_name = StringField("Prénom(s)", [f.required(), f.max_length(120)], filters=[f.strip])
    birth_date = f.DateInput("Date de naissance", [f.required(), f.birth_date])
    birth_place = StringField("Commune de naissance", [f.required(), f.max_length(120)], filters=[f.strip])
    birth_country = StringField("Pays de naissance", [f.required(), f.max_length(80)], filters=[f.strip], default="France")
    licence_number = StringField(
        "Numéro de permis de conduire", [f.required(), f.licence_number], filters=[f.upper_compact]
    )
    mobile = StringField("Téléphone mobile", [Optional(), f.french_mobile], filters=[f.strip])
    address = StringField("Adresse", [f.required(), f.max_length(200)], filters=[f.strip])
    address_extra = StringField("Complément d'adresse", [f.max_length(200)], filters=[f.strip])
    postal_code = StringField("Code postal", [f.required(), f.postal_code], filters=[f.strip])
    city = StringField("Commune", [f.required(), f.max_length(120)], filters=[f.strip])


class DriverAccountForm(DriverForm):
    email = StringField("Adresse électronique", [f.required(), f.email_address], filters=[f.strip])
    email_confirm = StringField(
        "Confirmer l'adresse électronique", [f.required(), f.same_email_as("email")], filters=[f.strip]
    )


def with_consents(form_class, consents, **kwargs):
    """Return the form with one required box per consent, its label linking to the document it accepts."""

    class Form(form_class):
        pass

    for code, label in consents:
        setattr(Form, f"consent_{code}", BooleanField(label, [f.required()]))
    form = Form(**kwargs)
    form.consent_fields = [form[f"consent_{code}"] for code, _ in consents]
    # The label as the box shows it, its document linked; the plain text stays for the error summary's links.
    for (code, label), box in zip(consents, form.consent_fields):
        box.linked_label = legal.consent_label(code, label)
    return form


def driver_account_form():
    """Return the driver form with one required box per configured consent."""
    return with_consents(DriverAccountForm, current_app.config["DRIVER_CONSENTS"])


class OrganisationForm(f.Form):
    siret = StringField("Numéro de SIRET", [f.required()], filters=[f.strip])
    organisation_name = StringField("Nom de l'organisme")
    last_name = StringField("Nom", [f.required(), f.max_length(80)], filters=[f.strip])
    first_name = StringField("Prénom", [f.required(), f.max_length(120)], filters=[f.strip])
    email = StringField("Adresse électronique", [f.required(), f.email_address], filters=[f.strip])
    email_confirm = StringField(
        "Confirmer votre adresse électronique", [f.required(), f.same_email_as("email")], filters=[f.strip]
    )


@bp.route("/")
def choose():
    """Show the profile choice: « Particulier », « Centre de formation agréé », « Entreprise de transport »."""
    return render_template("public/accounts/choose.html")


@bp.route("/particulier", methods=["GET", "POST"])
def driver():
    """Create a driver account, sent to staff for analysis."""
    form = driver_account_form()
    if form.validate_on_submit():
        if not limits.allow("create-account"):
            return render_template("public/too_many.html"), 429
        identity = {name: form[name].data for name in list(DRIVER_FIELDS) + ["email"]}
        consents = [(code, label) for code, label in current_app.config["DRIVER_CONSENTS"]]
        try:
            user = accounts.register_driver(identity, consents)
        except Refused as refusal:
            form[refusal.field or "email"].errors.append(refusal.message)
        else:
            return render_template("public/accounts/driver_sent.html", email=user.email)
    return render_template("public/accounts/driver.html", form=form)


@bp.route("/centre", methods=["GET", "POST"], defaults={"kind": OrgKind.CENTRE})
@bp.route("/entreprise", methods=["GET", "POST"], defaults={"kind": OrgKind.COMPANY})
def organisation(kind):
    """Create the administrator account of a training centre or a transport company."""
    consents = current_app.config["ORGANISATION_CONSENTS"]
    form = with_consents(OrganisationForm, consents, siret=request.args.get("siret", ""))
    if form.validate_on_submit():
        if not limits.allow("create-account"):
            return render_template("public/too_many.html"), 429
        try:
            user = accounts.register_organisation(
                kind, form.siret.data, form.last_name.data, form.first_name.data, form.email.data, consents
            )
        except Refused as refusal:
            form[refusal.field or "siret"].errors.append(refusal.message)
        else:
            return render_template("public/accounts/organisation_created.html", email=user.email)
    if form.siret.data and not form.organisation_name.data:
        form.organisation_name.data = _name_if_eligible(form.siret.data, kind)
    return render_template("public/accounts/organisation.html", form=form, kind=kind)


def _name_if_eligible(raw_siret, kind):
    try:
        return accounts.check_organisation(raw_siret, kind)[1].name
    except Refused:
        return ""


@bp.route("/siret")
def check_siret():
    """Check a SIRET as it is typed: checksum, Sirene status, approval, existing account (JSON)."""
    kind = OrgKind.COMPANY if request.args.get("profil") == OrgKind.COMPANY else OrgKind.CENTRE
    try:
        siret, establishment = accounts.check_organisation(request.args.get("siret", ""), kind)
    except Refused as refusal:
        return jsonify(ok=False, message=refusal.message)
    return jsonify(ok=True, siret=siret, name=establishment.name, message="SIRET vérifié : établissement actif et éligible.")


# --- Correction of a non-compliant driver account (link from the e-mail) ------------------------


@bp.route("/a-corriger/<token>", methods=["GET", "POST"])
def correct(token):
    """Show what staff found wrong and let the driver correct just those fields."""
    try:
        link = tokens.check(token, [TokenPurpose.CORRECTION])
    except tokens.LinkError as error:
        return render_template("public/password/link_error.html", reason=error.reason), 410
    user = link.user
    dossier = Dossier.account_of(user)
    if dossier is None or dossier.state != AccountState.A_CORRIGER:
        return render_template("public/password/link_error.html", reason="used"), 410
    anomalies = list(dossier.open_anomalies())
    flagged = {a.field for a in anomalies}
    form = DriverForm(obj=_identity_of(user)) if request.method == "GET" else DriverForm()
    for name in list(DRIVER_FIELDS):
        if name not in flagged:
            del form[name]
    if form.validate_on_submit():
        accounts.correct(user, {name: form[name].data for name in flagged})
        tokens.consume(link)
        return render_template("public/accounts/correction_sent.html", email=user.email)
    return render_template("public/accounts/correct.html", form=form, anomalies=anomalies, user=user)


def _identity_of(user):
    """Return an object with every driver field, for pre-filling the form."""

    class Identity:
        pass

    identity = Identity()
    driver = user.driver
    for name in DRIVER_FIELDS:
        holder = user if name in ("last_name", "first_name") else driver
        setattr(identity, name, getattr(holder, name))
    return identity

