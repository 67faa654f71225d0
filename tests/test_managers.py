"""« Mes Gestionnaires » (guide 000): designate, modify, resend the password e-mail, delete; the rules that hold."""
import html
import re

import pytest

from models import AuditLog, OrgKind, Organisation, Role, Staff, Token, User
from services import members
from services.errors import Refused
from tests.conftest import TEST_PASSWORD, last_email, outbox_links, path_of
from tests.cqc_files import make_member

NEW = "/mes-gestionnaires/ajouter"


@pytest.fixture
def company(app):
    return Organisation.create(kind=OrgKind.COMPANY, siret="82345678500026", name="TRANSPORTS MARTIN ET FILS")


@pytest.fixture
def admin(client, login_user, company):
    person = make_member(company, Role.ORG_ADMIN, email="direction@transports-martin.fr")
    login_user(person)
    return person


def form(**changes):
    data = {"last_name": "Vannest", "first_name": "Philippe", "function": "Gestionnaire de demande",
            "phone": "03 20 00 00 01", "email": "p.vannest@transports-martin.fr",
            "email_confirm": "P.Vannest@transports-martin.fr ", "admin": "non"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def errors_of(page, name):
    return [html.unescape(e) for e in re.findall(rf'<p class="error" id="{name}-error">([^<]+)</p>', page)]


def set_password(client, email, password=TEST_PASSWORD):
    link = path_of(outbox_links(last_email(email))[0])
    client.get(link)
    return client.post(link + "/saisie", data={"password": password, "confirm": password})


def test_the_page_lists_managers_and_administrators_and_advises_a_deputy(client, admin, company):
    page = html.unescape(client.get("/mes-gestionnaires/").get_data(as_text=True))
    assert "Gestionnaires Tachygraphe" in page and "Ajouter un gestionnaire" in page
    assert "Gestionnaires de mon établissement" in page and "Administrateur(s) de mon établissement" in page
    assert "vivement conseillé de désigner au minimum un administrateur suppléant" in page
    make_member(company, Role.ORG_DEPUTY, email="m.leroy@transports-martin.fr")
    page = html.unescape(client.get("/mes-gestionnaires/").get_data(as_text=True))
    assert "vivement conseillé" not in page


def test_the_form_has_the_guide_s_fields_and_notice(client, admin):
    page = html.unescape(client.get(NEW).get_data(as_text=True))
    assert "DESIGNATION D'UN GESTIONNAIRE" in page
    for label in ("Nom", "Prénom", "Fonction", "Numéro de téléphone", "Adresse électronique",
                  "Confirmer l'adresse électronique", "J'ajoute cet utilisateur aux administrateurs de ma structure."):
        assert f">{label} <span class=\"required\">*</span>" in page, label
    assert ("L'adresse électronique n'est pas modifiable. En cas d'erreur, veuillez supprimer le gestionnaire et le "
            "créer de nouveau.") in page
    assert ">Annuler<" in page and ">Ajouter<" in page
    assert '<a href="/mes-gestionnaires/" class="active">Mes Gestionnaires</a>' in page


def test_adding_a_manager_e_mails_the_48_hour_password_link_and_lists_them(client, admin, company):
    response = client.post(NEW, data=form())
    assert response.status_code == 302
    member = User.get(User.email == "p.vannest@transports-martin.fr")
    assert (member.role, member.organisation_id, member.function, member.phone) == (
        Role.ORG_MANAGER, company.id, "Gestionnaire de demande", "0320000001")
    message = last_email(member.email)
    assert "Créez votre mot de passe" in message.subject
    token = Token.get(Token.user == member)
    assert round((token.expires_at - token.created_at).total_seconds() / 3600) == 48
    page = client.get("/mes-gestionnaires/").get_data(as_text=True)
    managers_part = page.split("<h2>Gestionnaires de mon établissement</h2>")[1].split("<h2>Administrateur(s)")[0]
    assert "VANNEST" in managers_part and "GESTIONNAIRE DE DEMANDE" in managers_part
    assert AuditLog.select().where(AuditLog.action == "Gestionnaire désigné", AuditLog.user == admin.id).exists()


def test_oui_makes_a_deputy_administrator(client, admin):
    client.post(NEW, data=form(admin="oui", last_name="Leroy", first_name="Marie", function="Adjointe",
                               email="m.leroy@transports-martin.fr", email_confirm="m.leroy@transports-martin.fr"))
    assert User.get(User.email == "m.leroy@transports-martin.fr").role == Role.ORG_DEPUTY
    page = client.get("/mes-gestionnaires/").get_data(as_text=True)
    assert "LEROY" in page.split("<h2>Administrateur(s) de mon établissement</h2>")[1]


@pytest.mark.parametrize("field, value, message", [
    ("last_name", "", "Ce champ est obligatoire."),
    ("function", "  ", "Ce champ est obligatoire."),
    ("phone", "12", "Numéro de téléphone invalide : 10 chiffres (ex. 01 23 45 67 89)."),
    ("email", "pas-une-adresse", "Adresse électronique invalide (exemple : prenom.nom@exemple.fr)."),
    ("email_confirm", "autre@transports-martin.fr", "Les deux adresses électroniques ne sont pas identiques."),
    ("admin", None, "Choisissez « Oui » (administrateur suppléant) ou « Non » (gestionnaire)."),
    ("admin", "peut-etre", "Choisissez « Oui » (administrateur suppléant) ou « Non » (gestionnaire)."),
    ("last_name", "x" * 81, "80 caractères au maximum."),
])
def test_wrong_input_is_said_next_to_the_field_and_keeps_the_rest(client, admin, field, value, message):
    response = client.post(NEW, data=form(**{field: value}))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert errors_of(page, field) == [message]
    assert 'value="Philippe"' in page
    assert User.select().count() == 1


@pytest.mark.parametrize("taken_by", ["driver", "member", "upper-case"])
def test_an_address_used_anywhere_on_the_platform_is_refused(client, admin, make_driver, taken_by):
    address = "p.vannest@transports-martin.fr"
    if taken_by == "driver":
        make_driver(email=address)
    elif taken_by == "member":
        other = Organisation.create(kind=OrgKind.COMPANY, siret="52525252400059", name="EXPRESS ROUTE SUD")
        make_member(other, Role.ORG_MANAGER, email=address)
    elif taken_by == "staff":
        Staff.create(email=address, role="agent")
    else:
        make_member(admin.organisation, Role.ORG_MANAGER, email=address)
    page = client.post(NEW, data=form(email=address.upper(), email_confirm=address)).get_data(as_text=True)
    assert errors_of(page, "email") == ["Cette adresse électronique est déjà associée à un compte Hub Pro Transport."]


def test_the_manager_sets_a_password_and_sees_the_manager_home(client, admin, login_user):
    client.post(NEW, data=form())
    client.post("/deconnexion")
    assert set_password(client, "p.vannest@transports-martin.fr").status_code == 200
    response = client.post("/connexion", data={"email": "p.vannest@transports-martin.fr", "password": TEST_PASSWORD})
    assert response.status_code == 302
    page = html.unescape(client.get("/").get_data(as_text=True))
    assert "Bienvenue sur le portail Hub Pro Transport" in page
    assert "Nouveautés" in page and "Mes notifications" in page and "Suivi de mes demandes" in page
    assert "Aucune demande en cours" in page and "Mes Gestionnaires" not in page


def test_modifying_changes_everything_but_the_address(client, admin, company):
    member = make_member(company, Role.ORG_MANAGER, email="p.vannest@transports-martin.fr")
    page = html.unescape(client.get(f"/mes-gestionnaires/{member.id}/modifier").get_data(as_text=True))
    assert "p.vannest@transports-martin.fr" in page and "(non modifiable)" in page and 'name="email"' not in page
    response = client.post(f"/mes-gestionnaires/{member.id}/modifier", data=form(
        last_name="Vanneste", function="Responsable parc", phone="0612345678", admin="oui", email="pirate@exemple.fr"))
    assert response.status_code == 302
    member = User.get_by_id(member.id)
    assert (member.last_name, member.function, member.phone, member.role, member.email) == (
        "Vanneste", "Responsable parc", "0612345678", Role.ORG_DEPUTY, "p.vannest@transports-martin.fr")


def test_the_last_administrator_cannot_be_demoted_or_deleted(app, client, admin, company):
    page = client.post(f"/mes-gestionnaires/{admin.id}/modifier", data=form(admin="non")).get_data(as_text=True)
    assert errors_of(page, "admin") == ["Vous ne pouvez pas retirer vos propres droits d'administrateur : "
                                        "demandez-le à un autre administrateur."]
    response = client.post(f"/mes-gestionnaires/{admin.id}/supprimer", follow_redirects=True)
    assert "Vous ne pouvez pas supprimer votre propre compte" in html.unescape(response.get_data(as_text=True))
    assert User.get_by_id(admin.id).deleted_at is None
    # Whoever acts, the organisation keeps one administrator.
    deputy = make_member(company, Role.ORG_DEPUTY, email="m.leroy@transports-martin.fr")
    members.remove(admin, deputy)
    with pytest.raises(Refused, match="au moins un administrateur"):
        members.modify(deputy, make_member(company, Role.ORG_MANAGER), form(), admin=False)
    with pytest.raises(Refused, match="au moins un administrateur"):
        members.remove(deputy, User(id=0))


def test_resend_only_while_the_link_is_not_used_and_the_old_link_dies(client, admin, company):
    client.post(NEW, data=form())
    member = User.get(User.email == "p.vannest@transports-martin.fr")
    first = path_of(outbox_links(last_email(member.email))[0])
    page = client.get("/mes-gestionnaires/").get_data(as_text=True)
    assert f"/mes-gestionnaires/{member.id}/renvoyer" in page
    response = client.post(f"/mes-gestionnaires/{member.id}/renvoyer", follow_redirects=True)
    assert "Un nouveau lien de création de mot de passe est envoyé" in html.unescape(response.get_data(as_text=True))
    assert client.get(first).status_code == 410
    client.post("/deconnexion")
    assert set_password(client, member.email).status_code == 200
    client.post("/connexion", data={"email": admin.email, "password": TEST_PASSWORD})
    assert f"/mes-gestionnaires/{member.id}/renvoyer" not in client.get("/mes-gestionnaires/").get_data(as_text=True)
    response = client.post(f"/mes-gestionnaires/{member.id}/renvoyer", follow_redirects=True)
    assert "a déjà créé son mot de passe" in html.unescape(response.get_data(as_text=True))


def test_a_deleted_manager_loses_access_at_once_and_stays_the_author(app, client, admin, company):
    manager = make_member(company, Role.ORG_MANAGER, email="p.vannest@transports-martin.fr")
    AuditLog.create(action="Demande faite", user=manager)
    theirs = app.test_client()
    theirs.post("/connexion", data={"email": manager.email, "password": TEST_PASSWORD})
    assert theirs.get("/mes-demandes/").status_code == 200

    response = client.post(f"/mes-gestionnaires/{manager.id}/supprimer", follow_redirects=True)
    assert "n'a plus accès à son espace" in html.unescape(response.get_data(as_text=True))
    assert f"membre-{manager.id}" not in client.get("/mes-gestionnaires/").get_data(as_text=True)

    response = theirs.get("/mes-demandes/")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]
    page = theirs.post("/connexion", data={"email": manager.email, "password": TEST_PASSWORD}).get_data(as_text=True)
    assert "Adresse électronique ou mot de passe incorrect." in html.unescape(page)
    kept = User.get_by_id(manager.id)
    assert kept.deleted_email == "p.vannest@transports-martin.fr" and kept.full_name == "Claire DURAND"
    assert AuditLog.get(AuditLog.action == "Demande faite").user_id == manager.id
    # The address is free again: a wrong one is corrected by deleting and designating anew.
    assert client.post(NEW, data=form()).status_code == 302


def test_a_deleted_manager_s_unused_link_no_longer_works(client, admin):
    client.post(NEW, data=form())
    member = User.get(User.email == "p.vannest@transports-martin.fr")
    link = path_of(outbox_links(last_email(member.email))[0])
    client.post(f"/mes-gestionnaires/{member.id}/supprimer")
    assert client.get(link).status_code == 410


def test_news_of_a_deleted_manager_s_request_goes_to_the_administrators(app, admin, company):
    from models import Notification
    from services import outbox

    manager = make_member(company, Role.ORG_MANAGER, email="p.vannest@transports-martin.fr")
    members.remove(manager, admin)
    outbox.notify(User.get_by_id(manager.id), "Votre demande n° 7 est acceptée.", template="notification",
                  subject="Votre demande est acceptée", details=[])
    assert [n.user_id for n in Notification.select()] == [admin.id]
    assert last_email(admin.email).subject == "Votre demande est acceptée"
