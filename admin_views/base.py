"""Staff access control and the safe defaults every back-office view inherits."""
from flask import abort, flash, g, redirect, request, url_for
from flask_admin.contrib.peewee import ModelView
from flask_login import current_user

from services import audit, fields
from services.formatting import date_fr, datetime_fr


def when(attribute):
    """A list-column formatter showing a stored UTC datetime in Paris time (16/06/2023 à 14:05)."""
    return lambda view, context, model, name: datetime_fr(getattr(model, attribute))


def day(attribute):
    """A list-column formatter showing a date as 16/06/2023."""
    return lambda view, context, model, name: date_fr(getattr(model, attribute))


def is_staff():
    return current_user.is_authenticated and current_user.is_staff and current_user.active


def refuse():
    """Send anonymous visitors to the staff login; refuse public accounts and unauthorised staff."""
    if not current_user.is_authenticated:
        return redirect(url_for("admin.login", next=request.full_path))
    abort(403)


def can_manage_reference_data(member):
    """May this staff member keep the reference data (approvals, Sirene, news, tariffs, procedures, subscriptions)?"""
    return member.is_local_admin or member.manages_reference_data


class StaffAccess:
    """Only active staff reach the view; ``local_admin_only`` narrows it to local administrators, ``reference_data``
    to them and the agents holding the habilitation « Données de référence ».

    Flask-Admin asks is_accessible() before every route a view exposes (list, forms, actions, imports) and
    before showing it in the menu: this is the one place a back-office view's access is decided.
    """

    local_admin_only = False
    reference_data = False

    def is_accessible(self):
        return is_staff() and self.can_access(current_user)

    def can_access(self, member):
        """May this active staff member use the view?"""
        if self.local_admin_only:
            return member.is_local_admin
        if self.reference_data:
            return can_manage_reference_data(member)
        return True

    def inaccessible_callback(self, name, **kwargs):
        return refuse()


#: The highest page number a list accepts (a larger one asks for page 100,000, empty in practice).
MAX_PAGE = 100_000


class StaffModelView(StaffAccess, ModelView):
    """A model view with safe defaults: no deletion, no silent cascade, French search, audited changes."""

    can_delete = False
    can_view_details = False
    # 25 rows a page by default, 50 or 100 on request: rendering the rows is most of a list page's cost.
    page_size = 25
    can_set_page_size = True
    page_size_options = (25, 50, 100)
    #: Words shown in the empty search box.
    search_hint = "Rechercher"
    # Forms checked by the server only, in French (the browser would check required fields first, in its language).
    create_template = "admin/model/staff_create.html"
    edit_template = "admin/model/staff_edit.html"

    def search_placeholder(self):
        return self.search_hint

    def search_clause(self, term):
        """Return the WHERE clause a search term adds, for views whose query already joins what it searches."""
        return None

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        # What the address bar carries is typed by anyone: a NUL in a search term, a page number beyond any
        # list or below zero are cleaned here, for every list, rather than reaching the database.
        search = fields.strip(search) or None
        page = min(max(page or 0, 0), MAX_PAGE)
        # Views that join in get_query() search themselves (search_clause): Flask-Admin would join twice.
        g.admin_search = search
        if type(self).search_clause is not StaffModelView.search_clause:
            search = None
        return super().get_list(page, sort_column, sort_desc, search, filters, execute, page_size)

    def get_query(self):
        query = self.scoped_query()
        term = (g.get("admin_search") or "").strip()
        clause = self.search_clause(term) if term else None
        return query.where(clause) if clause is not None else query

    def get_count_query(self):
        return self.get_query()

    def scoped_query(self):
        """Return what this staff member may see; scoped views narrow it."""
        return self.model.select()

    def get_one(self, id):
        """Fetch one record through the same scope as the list, so a URL cannot reach beyond it."""
        pk = getattr(self.model, self._primary_key)
        try:
            return self.scoped_query().where(pk == int(id)).first()
        except (TypeError, ValueError):
            return None

    def delete_model(self, model):
        """Delete one row only; never cascade silently to the rows that depend on it."""
        try:
            self.on_model_delete(model)
            model.delete_instance(recursive=False)
        except Exception as error:  # an integrity error: something still depends on this row
            flash(f"Suppression impossible : cet élément est encore utilisé ({error}).", "error")
            return False
        self.after_model_delete(model)
        return True

    def after_model_change(self, form, model, is_created):
        audit.record(("Création" if is_created else "Modification") + f" : {self.name}", str(model))

    def after_model_delete(self, model):
        audit.record(f"Suppression : {self.name}", str(model))


class ReadOnlyView(StaffModelView):
    """A list staff consult but never edit."""

    can_create = False
    can_edit = False
