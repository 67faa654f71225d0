"""« Connexion », « Mot de passe oublié » and logout for public accounts."""
from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from wtforms import PasswordField, StringField

from models import TokenPurpose, User, db
from models import clock, deadlines
from services import accounts, audit, limits, passwords, throttle, tokens
from services.limits import limiter
from services import fields as f

bp = Blueprint("auth", __name__)

FAILED_LOGIN = "Adresse électronique ou mot de passe incorrect."


class LoginForm(f.Form):
    email = StringField("Adresse électronique", [f.required()], filters=[f.strip])
    password = PasswordField("Mot de passe", [f.required()])


class ForgotForm(f.Form):
    email = StringField("Adresse électronique", [f.required(), f.email_address], filters=[f.strip])


def locked_message(seconds):
    minutes = max(1, round(seconds / 60))
    return (
        f"Trop de tentatives de connexion échouées : ce compte est bloqué pendant {minutes} minute"
        f"{'s' if minutes > 1 else ''}. Si ce compte existe, son titulaire a reçu par courrier électronique un lien pour le débloquer."
    )


def check_login(form, account_lookup, staff=False):
    """Check a login form against the account's lock and its password; return the account or None (errors set).

    Failures are counted per account (a typed address); the request takes as long whether the address exists or
    not (passwords.verify hashes against a dummy). The owner of an account that locks receives an unlock link.
    """
    key = throttle.key_for(form.email.data, staff=staff)
    locked = throttle.locked_for(key)
    if locked:
        form.password.errors.append(locked_message(locked))
        return None
    account = account_lookup(form.email.data)
    if passwords.verify(account.password_hash if account else None, form.password.data) and account is not None:
        throttle.reset(key)
        return account
    failures = throttle.fail(key)
    locked = throttle.locked_for(key)
    if locked and account is not None and failures == deadlines.LOGIN_LOCK_AFTER:
        with db.atomic():
            throttle.send_unlock_link(account)
    form.password.errors.append(locked_message(locked) if locked else FAILED_LOGIN)
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
@limiter.limit(limits.logins, methods=["POST"])
def login():
    """Log a public account in with its e-mail address and password."""
    if current_user.is_authenticated and not current_user.is_staff:
        return redirect(url_for("home.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = check_login(form, User.by_email)
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
    """Log out, ending every session of the account (a cookie copied before no longer opens it)."""
    if current_user.is_authenticated:
        current_user.end_sessions()
    logout_user()
    flash("Vous êtes déconnecté(e).", "info")
    return redirect(url_for("auth.login"))


@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
def forgot():
    """Send a password link; answer the same whatever the address, so nobody learns who has an account."""
    form = ForgotForm()
    if form.validate_on_submit():
        if not limits.allow("forgot-password"):
            return render_template("public/too_many.html"), 429
        with db.atomic():
            accounts.send_password_help(form.email.data)
        return render_template("public/auth/forgot_sent.html", email=form.email.data)
    return render_template("public/auth/forgot.html", form=form, staff=request.args.get("espace") == "agent")


@bp.route("/deblocage/<token>", methods=["GET", "POST"])
def unlock(token):
    """Unlock an account locked by failed logins, from the link e-mailed to its owner."""
    try:
        link = tokens.check(token, [TokenPurpose.UNLOCK])
    except tokens.LinkError as error:
        return render_template("public/password/link_error.html", reason=error.reason), 410
    account = link.staff if link.staff_id is not None else link.user
    if request.method == "POST":
        with db.atomic():
            try:
                tokens.consume(link)
            except tokens.LinkError as error:
                return render_template("public/password/link_error.html", reason=error.reason), 410
            throttle.reset(throttle.login_key(account))
            audit.record("Compte débloqué par son titulaire", account.email,
                         **({"staff": account} if account.is_staff else {"user": account}))
        flash("Votre compte est débloqué : vous pouvez vous connecter.", "success")
        return redirect(url_for("admin.login" if account.is_staff else "auth.login"))
    return render_template("public/auth/unlock.html", token=token)
