"""« Accueil » and « Mon compte »: what a logged-in account sees first."""
from flask import Blueprint, g, redirect, render_template, url_for
from flask_login import current_user

from models import Consent, Dossier, News, Notification, Role
from models import clock
from public_forms import ADMINS, Audience, account_required
from public_forms.auth import LoginForm
from public_forms.requests import in_progress

bp = Blueprint("home", __name__)

#: How many unread notifications the home page lists.
HOME_NOTIFICATIONS = 10


@bp.route("/")
def index():
    """Show the home page: news, notifications and requests in progress; the login form when anonymous."""
    news = News.current()
    if not current_user.is_authenticated or current_user.is_staff:
        return render_template("public/home/landing.html", news=news, form=LoginForm())
    notifications = Notification.unread_of(current_user.id, HOME_NOTIFICATIONS)
    if len(notifications) < HOME_NOTIFICATIONS:
        g.unread_notifications = len(notifications)
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


@bp.route("/mon-compte")
@account_required(Audience.DRIVER, *ADMINS)
def account():
    """Show the account's identity as staff validated it (the e-mail address cannot be changed)."""
    dossier = Dossier.account_of(current_user) if current_user.role == Role.DRIVER else None
    consents = list(Consent.select().where(Consent.user == current_user.id).order_by(Consent.id))
    return render_template("public/home/account.html", driver=current_user.driver, dossier=dossier, consents=consents)
