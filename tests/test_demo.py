"""The demo data set works in the back office: its addresses are accepted, and a person can open each of its
rows in a back-office edit form and save it unchanged."""
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from email_validator import validate_email
from werkzeug.datastructures import MultiDict

from models import AuditLog, Habilitation, News, Staff, Subscription
from services import demo
from tests.conftest import path_of


class FormAsSubmitted(HTMLParser):
    """What a browser posts when a person presses « Enregistrer » on the page's admin form without changing it."""

    def __init__(self):
        super().__init__()
        self.fields, self.inside, self.select, self.textarea = [], False, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and "admin-form" in (attrs.get("class") or ""):
            self.inside = True
        if not self.inside or "disabled" in attrs:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = (attrs.get("type") or "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.fields.append((name, attrs.get("value") or "on"))
            elif kind not in ("submit", "button", "file", "reset"):
                self.fields.append((name, attrs.get("value") or ""))
        elif tag == "select" and name:
            self.select = name
        elif tag == "option" and self.select and "selected" in attrs:
            self.fields.append((self.select, attrs.get("value") or ""))
        elif tag == "textarea" and name:
            self.textarea = [name, ""]

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            # A browser drops the line break right after <textarea> (WTForms writes one).
            name, text = self.textarea
            text = text.replace("\r\n", "\n")
            self.fields.append((name, text[1:] if text.startswith("\n") else text))
            self.textarea = None


def as_submitted(html):
    parser = FormAsSubmitted()
    parser.feed(html)
    assert parser.fields, "aucun formulaire d'administration sur la page"
    return MultiDict(parser.fields)


@pytest.fixture
def demo_admin(app, client):
    """Load the demo data set and log in as its local administrator."""
    lines = list(demo.load())
    assert "déjà présentes" not in " ".join(lines)
    _, email, password = demo.ACCOUNTS[0]
    assert client.post("/admin/connexion", data={"email": email, "password": password}).status_code == 302
    return Staff.get(Staff.email == email)


def editable_views(app):
    """Return the back-office views whose rows can be edited."""
    admin = app.extensions["admin"][0]
    return [view for view in admin._views if getattr(view, "can_edit", False) and hasattr(view, "get_query")]


def snapshot(row):
    """Return what a row holds, and the habilitations of a staff member."""
    row = type(row).get_by_id(row.id)
    data = dict(row.__data__)
    if isinstance(row, Staff):
        data["habilitations"] = sorted(h.procedure_id for h in Habilitation.select().where(Habilitation.staff == row))
    return data


def test_every_demo_address_is_one_the_back_office_accepts(app):
    addresses = [email for _, email, _ in demo.ACCOUNTS] + [demo.NOTIFICATION_EMAIL]
    for address in addresses:
        validate_email(address, check_deliverability=False)
    assert not any(address.endswith(".local") for address in addresses)


def test_each_demo_row_saves_unchanged_in_its_back_office_form(app, client, demo_admin):
    views = editable_views(app)
    assert {view.endpoint for view in views} >= {"news", "staff", "subscriptions"}
    saved = []
    for view in views:
        with app.test_request_context():
            rows = list(view.get_query())
        assert rows, f"aucune ligne de démonstration dans « {view.name} »"
        for row in rows:
            before = snapshot(row)
            edit = f"/admin/{view.endpoint}/edit/?id={row.id}"
            page = client.get(edit)
            assert page.status_code == 200, (edit, page.status_code)
            audit_lines = AuditLog.select().count()
            response = client.post(edit, data=as_submitted(page.get_data(as_text=True)))
            assert response.status_code == 302, (view.name, str(row), response.get_data(as_text=True)[:3000])
            assert urlsplit(response.location).path == f"/admin/{view.endpoint}/"
            shown = client.get(path_of(response.location)).get_data(as_text=True)
            assert "Les modifications sont enregistrées." in shown, (view.name, str(row))
            assert "alert-danger" not in shown and "Échec" not in shown, (view.name, str(row))
            assert snapshot(row) == before, (view.name, str(row))
            # Nothing was changed, so nothing but the save itself is written in the audit log.
            assert AuditLog.select().count() - audit_lines <= 1
            saved.append((view.endpoint, row.id))
    assert len(saved) >= News.select().count() + Staff.select().count() + Subscription.select().count()


def test_a_new_agent_is_created_with_an_address_of_the_demo_domain(app, client, demo_admin):
    response = client.post("/admin/staff/new/", data={
        "email": "nouvel.agent@hubpro-transport.fr", "first_name": "Nina", "last_name": "Roux", "role": "agent",
        "active": "y",
    })
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert Staff.get(Staff.email == "nouvel.agent@hubpro-transport.fr").created_by_id == demo_admin.id


def test_a_demo_loaded_with_the_former_addresses_gets_the_current_ones(app):
    list(demo.load())
    for former, current in demo.FORMER_ADDRESSES.items():
        Staff.update(email=former).where(Staff.email == current).execute()
        Subscription.update(notification_email=former).where(Subscription.notification_email == current).execute()
    lines = list(demo.load())
    assert any("Adresses de démonstration remplacées" in line for line in lines)
    assert "Données de démonstration déjà présentes." in lines
    assert Staff.select().where(Staff.email.endswith(".local")).count() == 0
    assert Subscription.get().notification_email == demo.NOTIFICATION_EMAIL
