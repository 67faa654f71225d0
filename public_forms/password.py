"""Setting a password from an e-mailed link: « Créer mon mot de passe », reset, staff activation."""
from flask import Blueprint, render_template
from flask_wtf import FlaskForm
from wtforms import PasswordField, ValidationError

from models import Staff, TokenPurpose, User, db
from services import accounts, audit, passwords, throttle, tokens
from services import fields as f

bp = Blueprint("password", __name__, url_prefix="/mot-de-passe")

PASSWORD_LINKS = [
    TokenPurpose.CREATE_PASSWORD,
    TokenPurpose.RESET_PASSWORD,
    TokenPurpose.ACTIVATE_STAFF,
    TokenPurpose.RESET_STAFF,
]


def password_rule(form, field):
    found = passwords.problems(field.data or "")
    if found:
        raise ValidationError(" ".join(found))


class PasswordForm(FlaskForm):
    password = PasswordField("Mot de passe", [f.required(), password_rule])
    confirm = PasswordField("Confirmation du mot de passe", [f.required()])

    def validate_confirm(self, field):
        if field.data != self.password.data:
            raise ValidationError("Les deux mots de passe ne sont pas identiques.")


def _link_or_error(token):
    try:
        return tokens.check(token, PASSWORD_LINKS), None
    except tokens.LinkError as error:
        return None, (render_template("public/password/link_error.html", reason=error.reason), 410)


@bp.route("/<token>")
def welcome(token):
    """Open the link: « Cliquer ici pour continuer » (the link is not used until the password is set)."""
    link, error = _link_or_error(token)
    if error:
        return error
    return render_template("public/password/welcome.html", token=token, staff=link.staff_id is not None)


@bp.route("/<token>/saisie", methods=["GET", "POST"])
def choose(token):
    """Let the holder choose a password; the link then stops working."""
    link, error = _link_or_error(token)
    if error:
        return error
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            with db.atomic():
                tokens.consume(link)
                _set_password(link, form.password.data)
        except tokens.LinkError as used:
            return render_template("public/password/link_error.html", reason=used.reason), 410
        return render_template("public/password/done.html", staff=link.staff_id is not None)
    return render_template("public/password/choose.html", form=form, rule=passwords.RULE_TEXT)


def _set_password(link, password):
    # A new password ends every session of the account, wherever it was opened; and lifts a lock.
    hashed = passwords.hash_password(password)
    if link.staff_id is not None:
        Staff.update(password_hash=hashed).where(Staff.id == link.staff_id).execute()
        link.staff.end_sessions()
        throttle.reset(throttle.login_key(link.staff))
        audit.record("Mot de passe du compte IN Groupe défini", link.staff.email, staff=link.staff)
        return
    user = link.user
    User.update(password_hash=hashed).where(User.id == user.id).execute()
    user.end_sessions()
    throttle.reset(throttle.login_key(user))
    accounts.activate_if_compliant(user)
    audit.record("Mot de passe défini", user.email, user=user)
