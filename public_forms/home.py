"""« Accueil » and « Mon compte »: what a logged-in account sees first."""
import time

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField

from models import Consent, DataExport, Dossier, News, Notification, Role
from models import clock
from public_forms import ADMINS, Audience, account_required
from public_forms.auth import LoginForm
from public_forms.paging import listed
from public_forms.requests import in_progress
from services import closures, data_exports, storage
from services import fields as f
from services.errors import Refused

bp = Blueprint("home", __name__)

#: How many unread notifications the home page lists.
HOME_NOTIFICATIONS = 10
#: Every home page shows the news, which staff publish a few times a year: each process reads them at most this often
#: (a change made through this process shows at once, one made on another machine within this delay).
NEWS_KEPT_SECONDS = 60


def current_news():
    """Return News.current(), read at most once per NEWS_KEPT_SECONDS by this application."""
    key = (clock.today(), News.version)
    kept = current_app.extensions.get("hubpro.news")
    if kept is None or kept[0] != key or time.monotonic() - kept[1] >= NEWS_KEPT_SECONDS:
        kept = current_app.extensions["hubpro.news"] = (key, time.monotonic(), News.current())
    return kept[2]


@bp.route("/")
def index():
    """Show the home page: news, notifications and requests in progress; the login form when anonymous."""
    news = current_news()
    if not current_user.is_authenticated or current_user.is_staff:
        return render_template("public/home/landing.html", news=news, form=LoginForm())
    notifications = Notification.unread_of(current_user.id, HOME_NOTIFICATIONS)
    return render_template(
        "public/home/index.html", news=news, notifications=notifications,
        requests_in_progress=in_progress(current_user._get_current_object()),
    )


@bp.route("/notifications/<int:notification_id>")
@account_required()
def notification(notification_id):
    """Mark a notification read and follow its « en savoir plus » link."""
    note = Notification.get_or_none(Notification.id == notification_id, Notification.user == current_user.id)
    if note is None:
        return redirect(url_for("home.index"))
    Notification.update(read_at=clock.now()).where(Notification.id == note.id).execute()
    return redirect(note.link or url_for("home.index"))


@bp.route("/mes-notifications")
@account_required()
def notifications():
    """List a page of the account's notifications, read or not, newest first (« Mes notifications »)."""
    page, notes = listed(lambda limit, offset: Notification.page_of(current_user.id, limit, offset),
                         lambda: Notification.count_of(current_user.id))
    return render_template("public/home/notifications.html", notifications=notes, page=page)


@bp.route("/mon-compte")
@account_required(Audience.DRIVER, *ADMINS)
def account():
    """Show the account's identity as staff validated it (the e-mail address cannot be changed)."""
    dossier = Dossier.account_of(current_user) if current_user.role == Role.DRIVER else None
    consents = list(Consent.select().where(Consent.user == current_user.id).order_by(Consent.id))
    return render_template("public/home/account.html", driver=current_user.driver, dossier=dossier, consents=consents,
                           export=DataExport.latest_of(current_user.id), form=FlaskForm())


# --- The holder's rights (RGPD): a copy of their data, the closure of their account --------------------------------


class CloseAccountForm(f.Form):
    password = PasswordField("Mot de passe", [f.required()])


@bp.route("/mon-compte/mes-donnees", methods=["POST"])
@account_required(Audience.DRIVER, *ADMINS)
def request_data_export():
    """« Télécharger mes données »: queue the export; a link is e-mailed once the ZIP is ready."""
    if FlaskForm().validate_on_submit():
        _, new = data_exports.request_export(current_user._get_current_object())
        flash("Votre demande est enregistrée : vous recevrez par courrier électronique un lien pour télécharger vos "
              "données, valable 48 heures." if new else
              "Vos données sont en cours de préparation : le lien vous sera envoyé par courrier électronique.", "success")
    return redirect(url_for(".account"))


@bp.route("/mon-compte/mes-donnees/<token>")
@account_required()
def data_export(token):
    """Send the ZIP of a data export to its owner while the link is valid; an expired link says so."""
    export = data_exports.for_download(token, current_user) or abort(404)
    if export.is_expired():
        return render_template("public/home/data_export_expired.html"), 410
    data_exports.downloaded(export, current_user._get_current_object())
    return storage.send(export.path, "application/zip", data_exports.FILENAME, download=True)


@bp.route("/mon-compte/fermer", methods=["GET", "POST"])
@account_required(Audience.DRIVER, *ADMINS)
def close_account():
    """« Fermer mon compte »: say what is erased and what is kept, and why; close once the password confirms it."""
    user = current_user._get_current_object()
    form = CloseAccountForm()
    refusal = closures.refusal(user)
    if refusal is None and form.validate_on_submit():
        try:
            kept = closures.close(user, form.password.data)
        except Refused as refused:
            form.password.errors.append(refused.message)
        else:
            logout_user()
            return render_template("public/home/account_closed.html", kept=kept)
    return render_template("public/home/close_account.html", form=form, refusal=refusal, kept=closures.kept_for(user),
                           erased=closures.ERASED)
