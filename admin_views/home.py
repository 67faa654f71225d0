"""The back-office home page, and the staff login that is separate from the public one."""
from flask import current_app, flash, redirect, request, session, url_for
from flask_admin import AdminIndexView, expose
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import StringField

from admin_views.base import is_staff, refuse
from models import (
    AccountState, Dossier, Procedure, ProcedureCode, RequestState, Staff, StateCount, capped_count, db, normalize_email,
)
from models import clock, deadlines
from public_forms.auth import LoginForm, locked_message, check_login, safe_next
from services import audit, second_factor, throttle
from services import fields as f


class CodeForm(FlaskForm):
    code = StringField("Code de vérification", [f.required()], filters=[f.strip])


class StaffHomeView(AdminIndexView):
    """Home of the back office: the queues this staff member handles."""

    def is_accessible(self):
        return True  # the login page lives here; index() checks access itself

    @expose("/")
    def index(self):
        if not is_staff():
            return refuse()
        accounts = Dossier.visible_to(current_user).where(
            Procedure.code == ProcedureCode.COMPTE_PARTICULIER, Dossier.state == AccountState.EN_ANALYSE
        )
        overdue = accounts.where(Dossier.submitted_at < clock.now() - deadlines.ANALYSIS_TARGET)
        codes = current_user.procedure_codes()
        waiting = StateCount.of(Procedure.ids_of(codes & {ProcedureCode.COMPTE_PARTICULIER}))
        return self.render(
            "admin/staff_home.html",
            accounts_waiting=waiting.get(AccountState.EN_ANALYSE, 0),
            # Late files: a bounded count on the (procedure, state, submitted_at) index.
            accounts_overdue=capped_count(overdue),
            files=self._files_to_process(codes),
            procedures=sorted(codes),
            can_process_accounts=current_user.can_process(ProcedureCode.COMPTE_PARTICULIER),
        )

    def _files_to_process(self, codes):
        """Return, per procedure this staff member sees, the requests waiting: (name, sent, in instruction).

        The figures are the counters the database keeps per procedure and state: one read for the page.
        """
        counts = StateCount.by_procedure([RequestState.ENVOYEE, RequestState.EN_INSTRUCTION])
        rows = []
        shown = codes - {ProcedureCode.COMPTE_PARTICULIER}
        for procedure in Procedure.select().where(Procedure.code.in_(list(shown))).order_by(Procedure.code):
            sent, taken = (counts.get((procedure.id, state), 0) for state in (RequestState.ENVOYEE, RequestState.EN_INSTRUCTION))
            if sent or taken:
                rows.append((procedure.name, sent, taken))
        return rows

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
