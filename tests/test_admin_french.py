"""The back office speaks French whatever the browser's language: Flask-Admin's own messages come from the project's
French catalogue, required fields are checked by the server, pages say lang="fr", procedures go by their label."""
import html
import os
import re

import pytest
from babel.messages import mofile, pofile
from flask_babel import get_locale

from admin_views import TRANSLATIONS
from models import AuditLog, News, PROCEDURES, Procedure, StaffRole
from tests.test_staff_admin import _procedure_ids

#: What a browser set to American English sends.
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}
CATALOGUE = os.path.join(TRANSLATIONS, "fr", "LC_MESSAGES", "admin")
#: The procedures' codes (those a label does not contain, as « CQC » is in « … (CQC) »).
CODES = [code.value for code, _ in PROCEDURES if not any(code.value in label for _, label in PROCEDURES)]


@pytest.fixture
def local_admin(make_staff, login_staff):
    admin = make_staff(role=StaffRole.LOCAL_ADMIN)
    login_staff(admin)
    return admin


def visible_text(page):
    """Return the words a page shows (no tags, attributes, scripts, styles, nor the filters' data for their script)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r'<div id="(filter-groups|active-filters)-data"[^>]*>.*?</div>', " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_the_locale_is_french_whatever_the_browser_asks(app):
    with app.test_request_context("/admin/", headers=ENGLISH):
        assert str(get_locale()) == "fr"


def test_a_failed_creation_is_told_in_french_with_the_fields_reasons(client, local_admin):
    response = client.post("/admin/subscriptions/new/", headers=ENGLISH, data={
        "procedure": _procedure_ids("CQC")[0], "access_modality": "", "start_date": "",
        "notification_email": "instruction@hubpro-transport.fr",
    })
    text = visible_text(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "Échec de la création de l'enregistrement : corrigez les champs signalés." in text
    assert "La modalité d'accès est une sélection obligatoire." in text
    assert "Date invalide." in text
    assert "Failed" not in text and "required" not in text.lower()


def test_a_failed_save_is_told_in_french_with_wtforms_messages_in_french(client, local_admin):
    news = News.create(text="Nouveau tarif", published_on="2023-08-01")
    response = client.post(f"/admin/news/edit/?id={news.id}", headers=ENGLISH,
                           data={"text": "", "published_on": "2023-08-01", "visible": "y"})
    text = visible_text(response.get_data(as_text=True))
    assert "Échec de l'enregistrement des modifications : corrigez les champs signalés." in text
    assert "Ce champ est requis." in text and "This field" not in text
    assert News.get_by_id(news.id).text == "Nouveau tarif"


def test_a_saved_record_is_confirmed_in_french(client, local_admin):
    news = News.create(text="Nouveau tarif", published_on="2023-08-01")
    response = client.post(f"/admin/news/edit/?id={news.id}", headers=ENGLISH, follow_redirects=True,
                           data={"text": "Nouveau tarif au 1er septembre", "published_on": "2023-08-01", "visible": "y"})
    assert "Les modifications sont enregistrées." in visible_text(response.get_data(as_text=True))


def test_every_back_office_form_is_checked_by_the_server_and_still_marks_required_fields(app, client, local_admin):
    admin = app.extensions["admin"][0]
    creatable = [view for view in admin._views if getattr(view, "can_create", False) and hasattr(view, "get_query")]
    assert {view.endpoint for view in creatable} >= {"approvals", "news", "staff", "subscriptions", "tariffs"}
    for view in creatable:
        html = client.get(f"/admin/{view.endpoint}/new/", headers=ENGLISH).get_data(as_text=True)
        form = re.search(r"<form[^>]*class=\"admin-form\"[^>]*>", html)
        assert form and "novalidate" in form.group(0), view.endpoint
        # Assistive technologies still announce which fields are required.
        assert re.search(r"<(input|select|textarea)[^>]* required", html), view.endpoint


def test_back_office_pages_are_in_french_html(client, local_admin):
    for path in ("/admin/", "/admin/staff/new/"):
        html = client.get(path).get_data(as_text=True)
        assert '<html lang="fr">' in html, path
        assert "X-UA-Compatible" not in html, path
        assert 'aria-label="Toggle navigation"' not in html and 'aria-label="Afficher le menu"' in html
    client.post("/admin/deconnexion")
    assert '<html lang="fr">' in client.get("/admin/connexion").get_data(as_text=True)


def test_flask_admin_messages_come_from_the_french_catalogue(app):
    from flask_admin.babel import gettext, ngettext

    catalogue = pofile.read_po(open(CATALOGUE + ".po", "rb"))
    with app.test_request_context("/admin/", headers=ENGLISH):
        for message in catalogue:
            if message.id and not message.pluralizable:
                assert gettext(message.id) == message.string, message.id
        assert ngettext("Record was successfully deleted.", "%(count)s records were successfully deleted.", 3,
                        count=3) == "3 enregistrements sont supprimés."


def test_the_compiled_catalogue_is_the_source_s(app):
    source = pofile.read_po(open(CATALOGUE + ".po", "rb"))
    compiled = mofile.read_mo(open(CATALOGUE + ".mo", "rb"))
    def messages(catalogue):
        plain = lambda text: tuple(text) if isinstance(text, (list, tuple)) else text  # noqa: E731
        return {plain(m.id): plain(m.string) for m in catalogue if m.id}

    assert messages(source) == messages(compiled), (
        "admin.mo is stale: .venv/bin/pybabel compile -d admin_views/translations -D admin")


def test_procedures_go_by_their_label_never_their_code(client, local_admin, make_staff):
    agent = make_staff(procedures=["COMPTE_PARTICULIER", "CQC_PERTE"])
    pages = {path: visible_text(client.get(path).get_data(as_text=True)) for path in (
        "/admin/staff/", "/admin/staff/new/", f"/admin/staff/edit/?id={agent.id}", "/admin/subscriptions/new/",
        "/admin/procedures/", "/admin/replacement_requests/", "/admin/contracts/", "/admin/tachograph_requests/",
    )}
    for path, text in pages.items():
        assert not [code for code in CODES if code in text], path
    assert "Analyse d'un compte particulier, Remplacement de CQC pour perte" in pages["/admin/staff/"]
    for name in (procedure.name for procedure in Procedure.select()):
        assert name in pages["/admin/procedures/"] and name in pages["/admin/staff/new/"]

    client.post(f"/admin/staff/edit/?id={agent.id}", data={
        "first_name": agent.first_name, "last_name": agent.last_name, "procedures": _procedure_ids("CQC"), "active": "y",
    })
    line = AuditLog.get(AuditLog.action == "Habilitations modifiées")
    assert line.detail == "Carte de qualification de conducteur (CQC)"
