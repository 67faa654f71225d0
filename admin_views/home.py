"""The back-office home page, and the staff login that is separate from the public one."""
from flask import flash, redirect, request, url_for
from flask_admin import AdminIndexView, expose
from flask_login import current_user, login_user, logout_user

from admin_views.base import is_staff, refuse
from models import (
    AccountState, Dossier, Procedure, ProcedureCode, RequestState, Staff, StateCount, capped_count, db, normalize_email,
)
from models import clock, deadlines
from public_forms.auth import LoginForm, check_login, safe_next
from services import audit


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
        """Log a staff member in (public accounts cannot)."""
        if is_staff():
            return redirect(url_for(".index"))
        form = LoginForm()
        if form.validate_on_submit():
            email = normalize_email(form.email.data)
            keys = [f"staff-login:{email}", f"login-ip:{request.remote_addr}"]
            member = check_login(
                form, lambda e: Staff.get_or_none(Staff.email == normalize_email(e), Staff.active == True), keys  # noqa: E712
            )
            if member is not None:
                logout_user()
                login_user(member)
                Staff.update(last_login_at=clock.now()).where(Staff.id == member.id).execute()
                audit.record("Connexion au back-office", member.email, staff=member)
                return redirect(safe_next(url_for(".index")))
        return self.render("admin/login.html", form=form)

    @expose("/deconnexion", methods=["POST"])
    def logout(self):
        """Log the staff member out."""
        logout_user()
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
