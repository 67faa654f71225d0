"""What a tired person or an attacker types into the public forms and addresses (issues 8, 9 and 11): never a 500,
on SQLite and PostgreSQL; a French message next to the field instead, and a line in the log."""
import html
import io
import re

import pytest
from werkzeug.datastructures import FileStorage

from models import ProcedureCode
from services import dossiers, storage
from services import fields as f
from tests.driver_data import JPEG, PDF, PNG
from tests.tachy_data import company_under_contract, tachy_tariffs

NUL = "Van\x00nest"
HUGE = "x" * 100_000


@pytest.fixture
def admin(app, client, login_user, make_staff):
    tachy_tariffs()
    company, admin, _ = company_under_contract(make_staff(procedures=[ProcedureCode.CONTRAT_TACHY]))
    login_user(admin)
    return admin


@pytest.mark.parametrize("value", [NUL, HUGE, "", "   ", "<script>alert(1)</script>", "😀" * 50])
def test_no_form_of_the_organisations_answers_500(client, admin, value):
    dossier = dossiers.start(ProcedureCode.TACHY_ENTREPRISE, admin)
    posts = {
        "/mes-gestionnaires/ajouter": ["last_name", "first_name", "function", "phone", "email", "email_confirm", "admin"],
        f"/mes-gestionnaires/{admin.id}/modifier": ["last_name", "function", "phone", "admin"],
        "/mes-conducteurs/": ["last_name", "first_name", "birth_date-day", "birth_date-month", "birth_date-year",
                              "birth_place", "licence_number", "address", "postal_code", "city", "email"],
        "/mes-demandes/tachygraphe/conducteur": ["company_driver", "reason"],
        f"/mes-demandes/tachygraphe/{dossier.id}/etapes/cartes": ["card_count"],
        "/mon-contrat/etablissements-rattaches": ["siret"],
    }
    for path, names in posts.items():
        response = client.post(path, data={name: value for name in names})
        assert response.status_code < 500, (path, response.status_code)
    for path in ("/mes-conducteurs/?q=", "/supervision/?auteur=", "/centre/formations?q=", "/mes-cartes/?page="):
        assert client.get(path + value[:2000]).status_code < 500, path


def test_a_nul_character_in_otherwise_good_input_is_dropped_not_stored(client, admin):
    from models import CompanyDriver, User

    response = client.post("/mes-gestionnaires/ajouter", data={
        "last_name": NUL, "first_name": "Philippe", "function": "Gestion\x00naire", "phone": "0320000001",
        "email": "p.vannest@transports-martin.fr", "email_confirm": "p.vannest@transports-martin.fr", "admin": "non"})
    assert response.status_code == 302
    assert (User.get(User.email == "p.vannest@transports-martin.fr").last_name,
            User.get(User.email == "p.vannest@transports-martin.fr").function) == ("Vannest", "Gestionnaire")
    response = client.post("/mes-conducteurs/", data={
        "last_name": NUL, "first_name": "Philippe", "birth_date-day": "1\x004", "birth_date-month": "03",
        "birth_date-year": "1985", "birth_place": "Lille",
        "licence_number": "13AA\x0000002", "address": "3 rue du Port", "postal_code": "59000", "city": "Lille"})
    assert response.status_code == 302, re.findall(r'class="error"[^>]*>([^<]+)', response.get_data(as_text=True))
    assert (CompanyDriver.get().last_name, CompanyDriver.get().licence_number) == ("Vannest", "13AA00002")


def test_an_optional_field_left_out_of_the_request_is_empty(client, admin):
    from models import TachographRequest

    dossier = dossiers.start(ProcedureCode.TACHY_ENTREPRISE, admin)
    TachographRequest.update(step="adresse").where(TachographRequest.dossier == dossier).execute()
    response = client.post(f"/mes-demandes/tachygraphe/{dossier.id}/etapes/adresse", data={
        "delivery_name": "TRANSPORTS", "delivery_address": "5 ZA", "delivery_postal_code": "59128",
        "delivery_city": "Flers"})
    assert response.status_code == 302
    assert TachographRequest.get(TachographRequest.dossier == dossier).delivery_address_extra == ""


@pytest.mark.parametrize("query", ["search=%00", "search=ab%00cd", "page=-5", "page=99999999999999999999",
                                   "apres=%00~1", "apres=2026-01-01T00:00:00~99999999999"])
def test_no_staff_list_answers_500_to_what_the_address_bar_carries(client, make_staff, login_staff, query):
    login_staff(make_staff(role="local_admin"))
    for queue in ("cqc_requests", "account_queue", "outbox", "audit"):
        assert client.get(f"/admin/{queue}/?{query}").status_code == 200, queue


# --- Issue 11: no public form lets through what its column or a page cannot hold ---------------------------------


def errors_of(page, name):
    """Return the error messages shown next to a field."""
    return [html.unescape(m) for m in re.findall(rf'<p class="error" id="{name}-error">(.*?)</p>', page)]


def test_a_control_character_is_refused_next_to_its_field_and_what_was_typed_stays(client, caplog):
    from models import User
    from tests.conftest import driver_form

    response = client.post("/creer-un-compte/particulier", data=driver_form(last_name="Mar\x01tin", city="Li\x7flle"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert errors_of(page, "last_name") == errors_of(page, "city") == [f.FORBIDDEN_CHARACTERS]
    assert 'value="Mar\x01tin"' in page and 'value="Anne"' in page
    assert "Saisie refusée (caractères de contrôle) : POST /creer-un-compte/particulier, champ last_name" in caplog.text
    assert not User.select().exists()


@pytest.mark.parametrize("email, error", [
    ("a" * 300 + "@exemple.fr", "255 caractères au maximum."),
    # Fits the form, not the key failed logins are counted under (« login: » and the address).
    ("a" * 64 + "@" + "b" * 180 + ".fr", "Adresse électronique ou mot de passe incorrect."),
])
def test_a_login_address_too_long_is_refused_in_french(client, email, error):
    page = client.post("/connexion", data={"email": email, "password": "Correct-Horse-42!"}).get_data(as_text=True)
    assert error in html.unescape(page)


def test_a_text_area_keeps_its_line_breaks_and_every_text_field_its_column_size(app):
    from werkzeug.datastructures import MultiDict
    from wtforms import StringField, TextAreaField

    class Form(f.Form):
        text = TextAreaField("Texte", [f.max_length(1000)], filters=[f.strip])
        line = StringField("Ligne", filters=[f.strip])

    form = Form(formdata=MultiDict({"text": "Perdue\r\n\tau dépôt", "line": "x" * 256}), meta={"csrf": False})
    assert not form.validate() and form.errors == {"line": ["255 caractères au maximum."]}
    assert (form.text.flags.maxlength, form.line.flags.maxlength) == (1000, 255)
    form = Form(formdata=MultiDict({"text": "a\x0bb", "line": "a\tb"}), meta={"csrf": False})
    assert not form.validate() and form.errors == {"text": [f.FORBIDDEN_CHARACTERS], "line": [f.FORBIDDEN_CHARACTERS]}
    form = Form(formdata=MultiDict({"text": "a\x00b", "line": " Van\x00nest "}), meta={"csrf": False})
    assert form.validate() and (form.text.data, form.line.data) == ("ab", "Vannest")  # NUL is dropped, as before


def test_every_public_form_checks_its_text_fields(app):
    from flask_wtf import FlaskForm
    from wtforms import PasswordField, StringField
    from wtforms.fields.core import UnboundField

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    unchecked = []
    for form in subclasses(FlaskForm):
        # The payment provider's sandbox stands for an outside site, not the portal.
        if not form.__module__.startswith(("public_forms", "services")) or form.__module__ == "public_forms.sandbox":
            continue
        fields = [getattr(form, name) for name in dir(form) if isinstance(getattr(form, name, None), UnboundField)]
        text = [u for u in fields if issubclass(u.field_class, StringField) and not issubclass(u.field_class, PasswordField)]
        if text and not issubclass(form, f.Form):
            unchecked.append(f"{form.__module__}.{form.__qualname__}")
    assert unchecked == []


@pytest.mark.parametrize("content, name, declared, said", [
    (PDF, "photo.jpg", "", "(.jpg) ne correspond pas à son contenu (PDF)"),
    (JPEG, "permis.pdf", "", "(.pdf) ne correspond pas à son contenu (JPEG)"),
    (PDF, "scan", "image/png", "(image/png) ne correspond pas à son contenu (PDF)"),
    (PNG, "signature.gif", "", "(.gif) ne correspond pas à son contenu (PNG)"),
])
def test_an_upload_whose_name_or_type_contradicts_its_content_is_refused(app, caplog, content, name, declared, said):
    from services.errors import UploadRefused

    with pytest.raises(UploadRefused) as refused:
        storage.check_upload(FileStorage(io.BytesIO(content), filename=name, content_type=declared))
    assert refused.value.message == (f"Le type annoncé pour ce fichier {said} : enregistrez-le dans son vrai format, "
                                     "puis versez-le de nouveau.")
    assert "Fichier refusé (annoncé" in caplog.text


@pytest.mark.parametrize("content, name, declared, kind", [
    (PDF, "scan.PDF", "application/pdf", "application/pdf"),
    (JPEG, "photo.jpeg", "image/jpg", "image/jpeg"),
    (PNG, "signature", "application/octet-stream", "image/png"),
    (PDF, "carte.identite", "", "application/pdf"),
])
def test_an_upload_whose_name_and_type_agree_with_its_content_is_taken(app, content, name, declared, kind):
    checked = storage.check_upload(FileStorage(io.BytesIO(content), filename=name, content_type=declared))
    assert checked[:2] == (content, kind)


def test_a_photo_or_a_signature_is_an_image(app):
    from services import procedures
    from services.errors import UploadRefused

    for code in (ProcedureCode.CQC, ProcedureCode.TACHY_CONDUCTEUR):
        assert procedures.get(code).accepts("photo") == procedures.get(code).accepts("signature") == storage.IMAGES
    with pytest.raises(UploadRefused) as refused:
        storage.check_upload(FileStorage(io.BytesIO(PDF), filename="photo.pdf"), storage.IMAGES)
    assert refused.value.message == "Format non accepté : seuls les fichiers JPEG et PNG sont acceptés."


@pytest.mark.parametrize("name, suffix, kept", [
    ("photo.jpg", ".jpg", "photo.jpg"),
    ("carte\r\nd'identité.pdf", ".pdf", "carte d'identité.pdf"),
    ("C:\\Users\\anne\\scan.PDF", ".pdf", "scan.PDF"),
    ("../../etc/passwd", ".pdf", "passwd.pdf"),
    ("\u202egpj.exe", ".png", "gpj.exe.png"),
    ('per"mis<1>.pdf', ".pdf", "per_mis_1_.pdf"),
    ("a" * 500 + ".pdf", ".pdf", "a" * 116 + ".pdf"),
    ("\x00\x01", ".pdf", "document.pdf"),
    ("scan", ".pdf", "scan.pdf"),
])
def test_an_uploaded_file_name_is_cleaned_before_it_is_stored(name, suffix, kept):
    assert storage.clean_name(name, suffix) == kept


def test_an_id_beyond_any_row_in_an_address_is_a_404(app, client, make_driver, login_user):
    login_user(make_driver(state="active"))
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule:
            continue
        path = re.sub(r"<[^>]+>", "x", re.sub(r"<int:\w+>", str(2**63), rule.rule))
        for method in sorted(rule.methods & {"GET", "POST"}):
            assert client.open(path, method=method).status_code == 404, (method, path)


@pytest.mark.parametrize("page", ["99999999999999999999", "-5", "deux", "1e9"])
def test_a_list_of_the_centre_opens_whatever_its_page_number(client, login_user, page):
    from models import Role
    from tests.cqc_files import make_centre, make_member

    login_user(make_member(make_centre(), Role.ORG_ADMIN))
    assert client.get(f"/centre/formations?page={page}&q=Mar%00tin").status_code == 200
