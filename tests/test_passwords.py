"""The password rule (DESIGN §4) and the password links: single use, 48 h, no enumeration."""
import pytest

from models import AccountState, Dossier, Token, TokenPurpose, User
from services import notices, passwords, tokens
from tests.conftest import TEST_PASSWORD, last_email, path_of, outbox_links


@pytest.mark.parametrize(
    "password, missing",
    [
        ("court-Aa1!", "au moins 12 caractères"),
        ("sans-majuscule-42!", "une majuscule"),
        ("SANS-MINUSCULE-42!", "une minuscule"),
        ("SansCaractereSpecial42", "un caractère spécial"),
    ],
)
def test_each_missing_class_is_refused(password, missing):
    found = passwords.problems(password)
    assert found and missing in found[0]


def test_a_valid_password_and_any_unicode_are_accepted():
    assert passwords.problems("Correct-Horse-42!") == []
    assert passwords.problems("Éléphant-rosé-à-Noël") == []


def test_a_passphrase_of_64_characters_needs_no_character_class():
    phrase = "le camion rouge roule doucement sur la route de la vallee le soir"
    assert len(phrase) >= 64
    assert passwords.problems(phrase) == []
    assert passwords.problems(phrase[:63]) != []


def test_more_than_128_characters_is_refused_and_never_truncated():
    assert passwords.problems("Aa!" + "x" * 126) != []
    long_valid = "Aa!" + "x" * 125
    hashed = passwords.hash_password(long_valid)
    assert passwords.verify(hashed, long_valid)
    assert not passwords.verify(hashed, long_valid[:-1])


@pytest.mark.parametrize("common", ["Motdepasse123!", "Azerty123456!", "Password1234!", "!!Bienvenue2026"])
def test_the_most_common_passwords_are_refused(common):
    assert any("trop courant" in p for p in passwords.problems(common))


def _password_link(user, purpose=TokenPurpose.CREATE_PASSWORD):
    notices.password_link(user, purpose)
    return path_of(outbox_links(last_email(user.email))[0])


def test_create_password_journey_activates_a_compliant_driver(client, make_driver):
    driver = make_driver(state="conforme")
    link = _password_link(driver)
    page = client.get(link)
    assert "Cliquer ici pour continuer" in page.get_data(as_text=True)
    form = client.get(link + "/saisie").get_data(as_text=True)
    assert "12 caractères" in form and "Valider" in form
    done = client.post(link + "/saisie", data={"password": TEST_PASSWORD, "confirm": TEST_PASSWORD})
    assert "Revenir à l'application" in done.get_data(as_text=True)
    assert Dossier.account_of(driver).state == AccountState.ACTIVE
    assert passwords.verify(User.get_by_id(driver.id).password_hash, TEST_PASSWORD)


def test_the_server_checks_the_rule_and_the_confirmation_again(client, make_driver):
    link = _password_link(make_driver(state="conforme"))
    weak = client.post(link + "/saisie", data={"password": "faible", "confirm": "faible"}).get_data(as_text=True)
    assert "au moins 12 caractères" in weak
    differ = client.post(link + "/saisie", data={"password": TEST_PASSWORD, "confirm": TEST_PASSWORD + "x"})
    assert "ne sont pas identiques" in differ.get_data(as_text=True)
    assert Token.get().used_at is None  # a refused form does not use the link up


def test_a_link_works_once(client, make_driver):
    link = _password_link(make_driver(state="conforme"))
    client.post(link + "/saisie", data={"password": TEST_PASSWORD, "confirm": TEST_PASSWORD})
    again = client.get(link)
    assert again.status_code == 410
    body = again.get_data(as_text=True)
    assert "déjà été utilisé" in body and "Mot de passe oublié" in body


def test_a_link_expires_after_48_hours(client, make_driver, clock):
    link = _password_link(make_driver(state="conforme"))
    clock.advance(hours=47, minutes=59)
    assert client.get(link).status_code == 200
    clock.advance(minutes=2)
    expired = client.get(link + "/saisie")
    assert expired.status_code == 410
    assert "a expiré" in expired.get_data(as_text=True)
    assert "Mot de passe oublié" in expired.get_data(as_text=True)


def test_validity_is_configurable(app, make_driver, clock):
    app.config["LINK_VALIDITY_HOURS"] = 2
    user = make_driver(state="conforme")
    raw = tokens.issue(TokenPurpose.CREATE_PASSWORD, user=user)
    clock.advance(hours=2, seconds=1)
    with pytest.raises(tokens.LinkError) as error:
        tokens.check(raw, [TokenPurpose.CREATE_PASSWORD])
    assert error.value.reason == "expired"


def test_links_are_stored_hashed_and_a_new_one_replaces_the_old(make_driver):
    user = make_driver(state="conforme")
    first = tokens.issue(TokenPurpose.CREATE_PASSWORD, user=user)
    assert not Token.select().where(Token.token_hash == first).exists()
    second = tokens.issue(TokenPurpose.RESET_PASSWORD, user=user)
    with pytest.raises(tokens.LinkError):
        tokens.check(first, [TokenPurpose.CREATE_PASSWORD])
    assert tokens.check(second, [TokenPurpose.RESET_PASSWORD])


def test_an_unknown_link_says_so(client):
    response = client.get("/mot-de-passe/nimportequoi")
    assert response.status_code == 410
    assert "n'est pas valide" in response.get_data(as_text=True)
