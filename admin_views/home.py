"""The back-office home page (the dashboard, the saved filters), and the staff login separate from the public one."""
import datetime as dt
from dataclasses import dataclass

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_admin import AdminIndexView, expose
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import StringField

from admin_views import charts
from admin_views.base import is_staff, refuse
from admin_views.queues import QueueTools, clean_query
from models import Procedure, SavedFilter, Staff, db, normalize_email
from models import activity, clock, deadlines
from public_forms.auth import LoginForm, locked_message, check_login, safe_next
from services import audit, second_factor, throttle
from services import fields as f
from services.formatting import count_fr


class CodeForm(FlaskForm):
    code = StringField("Code de vérification", [f.required()], filters=[f.strip])


class SavedFilterForm(f.Form):
    name = StringField("Nom du filtre", [f.required(), f.max_length(100)], filters=[f.strip])
    endpoint = StringField(filters=[f.strip])
    query = StringField(filters=[f.strip])


@dataclass
class Figure:
    """A number of the dashboard, as shown, with the queue listing the files it counts."""

    text: str
    url: str | None = None
    #: Said after the number (the target a late file missed).
    note: str = ""


def duration_fr(seconds):
    """Say a duration as people read it: « < 1 h », « 29 h », « 3 j 4 h »."""
    hours = int(seconds // 3600)
    if hours < 1:
        return "< 1 h"
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} j {hours % 24} h" if hours % 24 else f"{hours // 24} j"


def number_fr(value):
    """Write an exact count as 12 345."""
    return f"{value:,}".replace(",", "\u202f")


class StaffHomeView(AdminIndexView):
    """Home of the back office: the dashboard of the procedures this staff member handles."""

    #: The medians cost a sort of 30 days of decisions, the days before today a count of 30 days of files: each set
    #: of procedures keeps its own this long (said on the page); today's files are counted at each view.
    figures_kept = dt.timedelta(minutes=5)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._kept = {}

    def is_accessible(self):
        return True  # the login page lives here; index() checks access itself

    @expose("/")
    def index(self):
        """Show, per procedure of this staff member, where the files stand and the last 30 days, with charts."""
        if not is_staff():
            return refuse()
        codes = current_user.procedure_codes()
        procedures = list(Procedure.select(Procedure.id, Procedure.code, Procedure.name)
                          .where(Procedure.code.in_(list(codes))).order_by(Procedure.name))
        chosen = next((p for p in procedures if p.code == request.args.get("demarche")), None)
        dates, end = activity.window()
        ids = [p.id for p in procedures]
        figures = activity.figures(procedures)
        days = self._daily(ids, dates, end)
        medians, daily_medians = self._keep(("medians", tuple(ids), chosen and chosen.id, dates[-1]),
                                            activity.medians, ids, [chosen.id] if chosen else ids, dates, end)
        rows = [self._row(p, figures[p.id], days, medians.get(p.id), dates) for p in procedures]
        return self.render(
            "admin/staff_home.html",
            rows=rows,
            waiting=any(figures[p.id].waiting or figures[p.id].instruction for p in procedures),
            procedures=procedures,
            chosen=chosen,
            **self._charts(procedures, chosen, dates, days, daily_medians),
            saved=self._saved_filters(),
        )

    def _keep(self, key, compute, *args):
        """Return compute(*args), computed at most once per figures_kept for this key."""
        now = clock.now()
        kept = self._kept.get(key)
        if kept is None or now - kept[0] >= self.figures_kept:
            self._kept = {k: v for k, v in self._kept.items() if now - v[0] < self.figures_kept}
            kept = self._kept[key] = (now, compute(*args))
        return kept[1]

    def _daily(self, ids, dates, end):
        """Return activity.daily() over these days: the days before today kept (a month of files to count), today's
        read at each view (an index range of one day)."""
        today = len(dates) - 1
        before = self._keep(("daily", tuple(ids), dates[-1]), activity.daily, ids, dates[:-1], activity.day_start(dates[-1]))
        now = activity.daily(ids, dates[-1:], end)
        return {**before, **{(kind, procedure_id, today): n for (kind, procedure_id, _), n in now.items()}}

    def _queues(self):
        return [view for view in self.admin._views if isinstance(view, QueueTools)]

    def queue_for(self, code, state=None):
        """Return the queue listing this procedure's files (in this state; in every state when None)."""
        return next((view for view in self._queues() if view.shows(code, state)), None)

    def _link(self, code, state=None, **chosen):
        queue = self.queue_for(code, state)
        return queue.filtered_url(code=code, state=state, **chosen) if queue else None

    def _row(self, procedure, figures, days, median, dates):
        """Return a procedure's line of the dashboard: each number with the link to its filtered queue."""
        code = procedure.code
        stages = activity.stages_of(code)
        since = dates[0].isoformat()
        received = sum(days.get(("received", procedure.id, index), 0) for index in range(len(dates)))
        decided = sum(days.get(("decided", procedure.id, index), 0) for index in range(len(dates)))
        oldest = clock.now() - figures.oldest_at if figures.oldest_at else None
        return {
            "label": procedure.name,
            "code": code,
            "waiting": Figure(number_fr(figures.waiting), self._link(code, stages.waiting)),
            "instruction": (Figure(number_fr(figures.instruction), self._link(code, stages.instruction))
                            if stages.instruction else None),
            "holder": Figure(number_fr(figures.holder), self._link(code, stages.holder)),
            "late": Figure(count_fr(figures.late), self._link(code, late="oui"),
                           "objectif " + duration_fr(activity.target_of(code).total_seconds())),
            "oldest": Figure(duration_fr(oldest.total_seconds()), self._link(code, stages.waiting)) if oldest else None,
            "received": Figure(number_fr(received), self._link(code, sent_since=since)),
            "decided": Figure(number_fr(decided), self._link(code, decided_since=since)),
            "median": Figure(duration_fr(median), self._link(code, decided_since=since)) if median is not None else None,
        }

    def _charts(self, procedures, chosen, dates, days, daily_medians):
        """Return the charts of the chosen procedure (or of all), and their data tables, a link per number for one."""
        shown = [chosen] if chosen else procedures
        received = [sum(days.get(("received", p.id, i), 0) for p in shown) for i in range(len(dates))]
        decided = [sum(days.get(("decided", p.id, i), 0) for p in shown) for i in range(len(dates))]
        in_days = max(daily_medians.values(), default=0) >= 72 * 3600
        scale, unit = (86400, " j") if in_days else (3600, " h")
        median = [round(daily_medians[i] / scale, 1) if i in daily_medians else None for i in range(len(dates))]

        def link(**day_filter):
            # A day's files are in one queue only when one procedure is shown.
            return self._link(chosen.code, **day_filter) if chosen else None

        table = []
        for index, day in enumerate(dates):
            table.append({
                "day": day,
                "received": Figure(number_fr(received[index]), link(sent_on=day.isoformat())),
                "decided": Figure(number_fr(decided[index]), link(decided_on=day.isoformat())),
                "median": duration_fr(daily_medians[index]) if index in daily_medians else "—",
            })
        volumes = charts.grouped_bars("Télédossiers reçus et décidés par jour", dates,
                                      [("Reçus", charts.BLUE, received), ("Décidés", charts.ORANGE, decided)])
        delays = charts.line("Délai médian de décision par jour", dates, "Délai médian", median, unit)
        return {
            "volumes": volumes,
            "delays": delays,
            "days": table,
            "totals": {"received": sum(received), "decided": sum(decided)},
            "first_day": dates[0],
            "last_day": dates[-1],
        }

    def _saved_filters(self):
        """Return (queue name, saved filter) of the logged-in staff member, by queue."""
        names = {view.endpoint: view.name for view in self._queues()}
        return [(names.get(saved.endpoint, saved.endpoint), saved) for saved in SavedFilter.of(current_user.id)]

    # --- Saved filters --------------------------------------------------------------------------------------

    def _own_filter(self, filter_id):
        """Return a saved filter of the logged-in staff member, or answer 404 (another's does not exist for them)."""
        return SavedFilter.get_or_none(SavedFilter.id == filter_id, SavedFilter.staff == current_user.id) or abort(404)

    @expose("/filtres", methods=["POST"])
    def save_filter(self):
        """Save a queue's current filters and search under a name (the same name replaces them)."""
        if not is_staff():
            return refuse()
        form = SavedFilterForm()
        queue = next((view for view in self._queues() if view.endpoint == form.endpoint.data), None)
        if queue is None or not queue.is_accessible():
            flash("Ce filtre ne peut pas être enregistré : la file n'existe pas.", "error")
            return redirect(url_for(".index"))
        query = clean_query(form.query.data)
        back = url_for(f"{queue.endpoint}.index_view") + ("?" + query if query else "")
        if not form.validate():
            flash("Donnez un nom au filtre (100 caractères au plus) : " + "; ".join(form.name.errors), "error")
            return redirect(back)
        with db.atomic():
            updated = (SavedFilter.update(query=query)
                       .where(SavedFilter.staff == current_user.id, SavedFilter.endpoint == queue.endpoint,
                              SavedFilter.name == form.name.data).execute())
            if not updated:
                SavedFilter.create(staff=current_user.id, endpoint=queue.endpoint, name=form.name.data, query=query)
        flash(f"Le filtre « {form.name.data} » est enregistré : il figure sur cette file et sur l'accueil.", "success")
        return redirect(back)

    @expose("/filtres/<int:filter_id>")
    def open_filter(self, filter_id):
        """Open the queue with one of the staff member's saved filters."""
        if not is_staff():
            return refuse()
        saved = self._own_filter(filter_id)
        return redirect(url_for(f"{saved.endpoint}.index_view") + ("?" + saved.query if saved.query else ""))

    @expose("/filtres/<int:filter_id>/supprimer", methods=["POST"])
    def delete_filter(self, filter_id):
        """Delete one of the staff member's saved filters; back to the queue, or to the home page."""
        if not is_staff():
            return refuse()
        saved = self._own_filter(filter_id)
        SavedFilter.delete().where(SavedFilter.id == saved.id).execute()
        flash(f"Le filtre « {saved.name} » est supprimé.", "success")
        if request.form.get("retour") == "file":
            return redirect(url_for(f"{saved.endpoint}.index_view"))
        return redirect(url_for(".index"))

    @expose("/connexion", methods=["GET", "POST"])
    def login(self):
        """Log a staff member in (public accounts cannot): password, then the code of their authenticator."""
        if is_staff():
            return redirect(url_for(".index"))
        form = LoginForm()
        if form.validate_on_submit():
            member = check_login(
                form, lambda e: Staff.get_or_none(Staff.email == normalize_email(e), Staff.active == True),  # noqa: E712
                staff=True,
            )
            if member is not None:
                if member.totp_enrolled_at is None and not current_app.config["STAFF_SECOND_FACTOR"]:
                    return self._open_session(member, safe_next(""))
                session["password_checked"] = {"staff": member.id, "key": member.session_key,
                                               "at": clock.now().timestamp(), "next": safe_next("")}
                return redirect(url_for(".second_factor" if member.totp_enrolled_at else ".enrol"))
        return self.render("admin/login.html", form=form)

    def _open_session(self, member, next_url=None):
        if next_url is None:
            next_url = (session.get("password_checked") or {}).get("next", "")
        logout_user()
        login_user(member)
        session.pop("password_checked", None)
        session["staff_since"] = session["staff_seen"] = clock.now().timestamp()
        Staff.update(last_login_at=clock.now()).where(Staff.id == member.id).execute()
        audit.record("Connexion au back-office", member.email, staff=member)
        return redirect(next_url or url_for(".index"))

    def _password_checked(self):
        """Return the member whose password was just checked (for the second step), or None."""
        pending = session.get("password_checked") or {}
        if clock.now().timestamp() - pending.get("at", 0) > deadlines.SECOND_FACTOR_DELAY.total_seconds():
            return None
        member = Staff.signed_in(pending.get("staff", 0))
        return member if member is not None and member.holds_session(pending.get("key")) else None

    @expose("/connexion/code", methods=["GET", "POST"])
    def second_factor(self):
        """Ask the code of the authenticator application (or a recovery code) after the password."""
        member = self._password_checked()
        if member is None or member.totp_enrolled_at is None:
            flash("Saisissez d'abord votre adresse électronique et votre mot de passe.", "info")
            return redirect(url_for(".login"))
        form = CodeForm()
        if form.validate_on_submit():
            key = throttle.login_key(member)
            locked = throttle.locked_for(key)
            if locked:
                form.code.errors.append(locked_message(locked))
            elif second_factor.check(member, form.code.data):
                throttle.reset(key)
                with db.atomic():
                    return self._open_session(member)
            else:
                throttle.fail(key)
                form.code.errors.append("Ce code n'est pas valide : saisissez le code à 6 chiffres affiché par "
                                        "votre application, ou l'un de vos codes de secours.")
        return self.render("admin/second_factor.html", form=form)

    @expose("/double-authentification", methods=["GET", "POST"])
    def enrol(self):
        """Enrol an authenticator application: scan the QR code, type its first code, keep the recovery codes."""
        member = current_user if is_staff() else self._password_checked()
        if member is None:
            return refuse()
        secret = session.get("totp_enrolment") or second_factor.new_secret()
        session["totp_enrolment"] = secret
        form = CodeForm()
        if form.validate_on_submit():
            codes = second_factor.enrol(member, secret, form.code.data)
            if codes:
                session.pop("totp_enrolment", None)
                if not is_staff():
                    self._open_session(Staff.get_by_id(member.id))
                return self.render("admin/recovery_codes.html", codes=codes)
            form.code.errors.append("Ce code ne correspond pas : vérifiez l'heure de votre téléphone et saisissez le "
                                    "code à 6 chiffres affiché pour « Hub Pro Transport ».")
        uri = second_factor.enrolment_uri(member.email, secret)
        return self.render("admin/enrol.html", form=form, secret=secret, qr=Markup(second_factor.qr_code_svg(uri)),
                           enrolled=member.totp_enrolled_at is not None)

    @expose("/deconnexion", methods=["POST"])
    def logout(self):
        """Log the staff member out, ending every session of the account."""
        if is_staff():
            current_user.end_sessions()
        logout_user()
        session.pop("staff_since", None)
        session.pop("staff_seen", None)
        flash("Vous êtes déconnecté(e) du back-office.", "info")
        return redirect(url_for(".login"))

    @expose("/gestion-des-teledossiers", methods=["POST"])
    def take_file_role(self):
        """Give the logged-in local administrator the role « Gestion des télédossiers » (or remove it)."""
        if not is_staff() or not current_user.is_local_admin:
            return refuse()
        enable = request.form.get("enable") == "1"
        with db.atomic():
            Staff.update(manages_files=enable).where(Staff.id == current_user.id).execute()
            audit.record(
                "Rôle « Gestion des télédossiers » " + ("ajouté" if enable else "retiré"), current_user.email
            )
        flash(
            "Le rôle « Gestion des télédossiers » est " + ("ajouté à" if enable else "retiré de") + " votre compte.",
            "success",
        )
        return redirect(url_for(".index"))
