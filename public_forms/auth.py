"""« Connexion », « Mot de passe oublié » and logout for public accounts."""
from urllib.parse import urlparse

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField

from models import User, db
from models import clock
from services import accounts, audit, passwords, throttle
from services import fields as f

bp = Blueprint("auth", __name__)

FAILED_LOGIN = "Adresse électronique ou mot de passe incorrect."


class LoginForm(FlaskForm):
    email = StringField("Adresse électronique", [f.required()], filters=[f.strip])
    password = PasswordField("Mot de passe", [f.required()])


class ForgotForm(FlaskForm):
    email = StringField("Adresse électronique", [f.required(), f.email_address], filters=[f.strip])


def _locked_message(seconds):
    minutes = max(1, round(seconds / 60))
    return f"Trop de tentatives de connexion échouées : réessayez dans {minutes} minute{'s' if minutes > 1 else ''}."


def check_login(form, account_lookup, keys):
    """Check a login form against throttling and the password; return the account or None (errors set)."""
    locked = max(throttle.locked_for(key) for key in keys)
    if locked:
        form.password.errors.append(_locked_message(locked))
        return None
    account = account_lookup(form.email.data)
    if account is not None and passwords.verify(account.password_hash, form.password.data):
        for key in keys:
            throttle.reset(key)
        return account
    failures = max(throttle.fail(key) for key in keys)
    locked = max(throttle.locked_for(key) for key in keys)
    form.password.errors.append(_locked_message(locked) if locked else FAILED_LOGIN)
    throttle.slow_down(failures)
    return None


def safe_next(default):
    """Return the ?next= target when it stays on this site, else the default."""
    target = request.args.get("next", "")
    parts = urlparse(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return default


@bp.route("/connexion", methods=["GET", "POST"])
def login():
    """Log a public account in with its e-mail address and password."""
    if current_user.is_authenticated and not current_user.is_staff:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.lower()
        keys = [f"login:{email}", f"login-ip:{request.remote_addr}"]
        user = check_login(form, User.by_email, keys)
        if user is not None and not accounts.can_log_in(user):
            form.password.errors.append(
                "Votre compte n'est pas encore activé : créez votre mot de passe depuis le lien reçu par "
                "courrier électronique, ou utilisez « Mot de passe oublié »."
            )
            user = None
        if user is not None:
            login_user(user)
            User.update(last_login_at=clock.now()).where(User.id == user.id).execute()
            audit.record("Connexion", user.email, user=user)
            return redirect(safe_next(url_for("home.index")))
    return render_template("public/auth/login.html", form=form)


@bp.route("/deconnexion", methods=["POST"])
def logout():
    """Log out."""
    logout_user()
    flash("Vous êtes déconnecté(e).", "info")
    return redirect(url_for("auth.login"))


@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
def forgot():
    """Send a password link; answer the same whatever the address, so nobody learns who has an account."""
    form = ForgotForm()
    if form.validate_on_submit():
        if not throttle.allow(f"forgot:{request.remote_addr}", current_app.config["FORM_RATE_LIMIT"]):
            return render_template("public/too_many.html"), 429
        with db.atomic():
            accounts.send_password_help(form.email.data)
        return render_template("public/auth/forgot_sent.html", email=form.email.data)
    return render_template("public/auth/forgot.html", form=form, staff=request.args.get("espace") == "agent")
