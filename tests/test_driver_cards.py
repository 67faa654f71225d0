"""Guide 001/004 « Mes cartes »: the card's visual, « pli non distribué » (Solution 1) and the activation on receipt."""
import html
import re

import pytest

from models import Card, CardEvent, CardState
from services import cards, dossiers, uploads
from tests.driver_data import complete_request, fast_pdfs, make_centre, record


def text(response):
    """Return a page as a person reads it (entities decoded)."""
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture(autouse=True)
def _fast_pdfs(monkeypatch):
    fast_pdfs(monkeypatch)


@pytest.fixture
def agent(make_staff):
    return make_staff(procedures=["CQC"])


@pytest.fixture
def driver(make_driver, login_user):
    user = make_driver(state="active", last_name="Martin", first_name="Anne", licence_number="942981379228")
    record(make_centre(), user)
    login_user(user)
    return user


@pytest.fixture
def card(driver, agent):
    """The card an accepted CQC request ordered."""
    dossier = complete_request(driver)
    dossiers.take(dossier, agent)
    return dossiers.accept(dossier, agent)


def reload(card):
    return Card.get_by_id(card.id)


def card_block(page, card):
    match = re.search(rf'<article class="card-item[^"]*" id="carte-{card.id}">(.*?)</article>', page, re.S)
    assert match, page
    return match.group(1)


def test_mes_cartes_draws_the_card_with_its_numbered_fields(client, card):
    page = text(client.get("/mes-cartes/"))
    assert "Mes cartes" in page
    block = card_block(page, card)
    visual = re.sub(r"<[^>]+>", " ", block)
    visual = re.sub(r"\s+", " ", visual)
    assert "CARTE DE QUALIFICATION DE CONDUCTEUR" in visual
    assert "RÉPUBLIQUE FRANÇAISE" in visual
    assert "1. MARTIN" in visual and "2. ANNE" in visual
    assert "3. 19/08/1991 LILLE" in visual
    assert f"4a. {card.issued_on:%d/%m/%Y}" in visual and f"4b. {card.expires_on:%d/%m/%Y}" in visual
    assert "4c. IMPRIMERIE NATIONALE" in visual
    assert "5a. 942981379228" in visual and f"5b. {card.number}" in visual
    assert "Carte en fabrication" in visual
    # The photo of the request is the card's photo (field 6), served to the holder only.
    photo = uploads.current_document(card.dossier_id, "photo")
    assert f'src="/mes-demandes/{card.dossier_id}/documents/{photo.id}"' in block
    assert "Activer ma carte" not in block and "pli non distribué" not in block


def test_no_card_yet(client, driver):
    assert "Vous n'avez pas encore de carte" in text(client.get("/mes-cartes/"))


def test_pli_non_distribue_solution_1_sends_the_card_again(client, card, agent, driver):
    cards.move(card, "ship", staff=agent)
    cards.move(card, "return", staff=agent)
    block = card_block(text(client.get("/mes-cartes/")), card)
    assert "Pli non distribué" in block
    assert f'href="/mes-cartes/{card.id}/pli-non-distribue">pli non distribué</a>' in block
    page = text(client.get(f"/mes-cartes/{card.id}/pli-non-distribue"))
    assert "Solution 1" in page and "Mon adresse est correcte." in page
    assert "Solution 2" in page and "Mon adresse est incorrecte." in page
    assert "12 rue des Lilas" in page and "59000 Lille" in page
    # logout, Solution 1, Solution 2 (a new address and the fee: tests/test_replacements.py)
    assert page.count("<form") == 3 and 'name="solution" value="2"' in page
    response = client.post(f"/mes-cartes/{card.id}/pli-non-distribue")
    assert response.headers["Location"].endswith("/mes-cartes/")
    assert "réexpédiée à cette même adresse" in text(client.get("/mes-cartes/"))
    assert reload(card).state == CardState.EXPEDIEE
    last = CardEvent.select().where(CardEvent.card == card).order_by(CardEvent.id.desc()).first()
    assert (last.event, last.from_state, last.to_state, last.user_id) == ("redispatch", "pnd", "expediee", driver.id)
    # Done once: the page is no longer offered.
    assert client.get(f"/mes-cartes/{card.id}/pli-non-distribue").status_code == 302


def test_a_delivered_card_is_activated_by_its_holder(client, card, agent, driver):
    cards.move(card, "ship", staff=agent)
    assert "Activer ma carte" not in card_block(text(client.get("/mes-cartes/")), card)
    client.post(f"/mes-cartes/{card.id}/activer")
    assert reload(card).state == CardState.EXPEDIEE  # not before delivery
    cards.move(card, "deliver", staff=agent)
    block = card_block(text(client.get("/mes-cartes/")), card)
    assert "Carte livrée" in block and "Activer ma carte" in block
    response = client.post(f"/mes-cartes/{card.id}/activer")
    assert response.status_code == 302
    page = text(client.get("/mes-cartes/"))
    assert "est activée" in page
    assert reload(card).state == CardState.ACTIVEE
    assert "Activer ma carte" not in card_block(page, card) and "Carte activée" in card_block(page, card)


def test_the_request_timeline_goes_on_with_the_card(client, card, agent):
    cards.move(card, "ship", staff=agent)
    page = text(client.get("/mes-demandes/?rubrique=en-cours"))
    item = re.search(rf'id="demande-{card.dossier_id}">(.*?)</article>', page, re.S).group(1)
    assert "Carte expédiée" in item.split("</summary>")[0]
    history = item.split("</summary>")[1]
    assert history.index("Acceptée") < history.index("Carte en fabrication") < history.index("Carte expédiée")


def test_home_follows_an_accepted_request_until_its_card_is_activated(client, card, agent):
    section = text(client.get("/")).split("Suivi de mes demandes")[1]
    assert f"Demande n° {card.dossier_id}" in section and "Carte en fabrication" in section
    for event in ("ship", "deliver"):
        cards.move(card, event, staff=agent)
    client.post(f"/mes-cartes/{card.id}/activer")
    section = text(client.get("/")).split("Suivi de mes demandes")[1]
    assert f"Demande n° {card.dossier_id}" not in section


def test_another_driver_gets_404_on_my_card(app, card, agent, make_driver):
    cards.move(card, "ship", staff=agent)
    cards.move(card, "return", staff=agent)
    intruder = make_driver(state="active")
    other = app.test_client()
    other.post("/connexion", data={"email": intruder.email, "password": "Correct-Horse-42!"})
    assert other.get(f"/mes-cartes/{card.id}/pli-non-distribue").status_code == 404
    assert other.post(f"/mes-cartes/{card.id}/pli-non-distribue").status_code == 404
    assert other.post(f"/mes-cartes/{card.id}/activer").status_code == 404
    photo = uploads.current_document(card.dossier_id, "photo")
    assert other.get(f"/mes-demandes/{card.dossier_id}/documents/{photo.id}").status_code == 404
    assert card.number not in text(other.get("/mes-cartes/"))
    assert reload(card).state == CardState.PND


# --- Issue 12: a card declared lost, the history, the pages ------------------------------------------------


def test_a_card_declared_lost_shows_its_history_and_leaves_the_home_follow_up(client, card, agent, driver):
    for event in ("ship", "deliver"):
        cards.move(card, event, staff=agent)
    cards.declare_missing(reload(card), False, user=driver, comment="Perte déclarée par le titulaire")
    block = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", card_block(text(client.get("/mes-cartes/")), card)))
    assert "État : Déclarée perdue" in block and "Activer ma carte" not in block
    history = block.split("Historique de la carte")[1]
    assert history.index("Carte en fabrication") < history.index("Carte expédiée – par IN Groupe") \
        < history.index("Déclarée perdue – par Anne MARTIN Perte déclarée par le titulaire")
    section = text(client.get("/")).split("Suivi de mes demandes")[1]
    assert f"Demande n° {card.dossier_id}" not in section
    # Declared again for the same reason, the first declaration stays the only one.
    assert cards.declare_missing(reload(card), False, user=driver, comment="encore") is None
    assert CardEvent.select().where(CardEvent.card == card.id, CardEvent.event == "declare_lost").count() == 1


def more_cards(driver, count):
    """Give the driver `count` more cards, one a day; return their ids newest first."""
    import datetime as dt

    made = [Card.create(user=driver, number=f"99{n:08d}", category="Marchandises", state=CardState.ACTIVEE,
                        last_name="MARTIN", first_name="ANNE", issued_on=dt.date(2020, 1, 1),
                        expires_on=dt.date(2030, 1, 1), created_at=dt.datetime(2020, 1, 1) + dt.timedelta(days=n))
            for n in range(count)]
    return [c.id for c in reversed(made)]


def listed(page):
    return [int(n) for n in re.findall(r'<article class="card-item[^"]*" id="carte-(\d+)">', page)]


def test_mes_cartes_is_paginated_20_a_page(client, driver):
    ids = more_cards(driver, 25)
    first = text(client.get("/mes-cartes/"))
    assert listed(first) == ids[:20] and "Page 1 sur 2" in first
    assert 'href="/mes-cartes/?page=2" rel="next">Page suivante' in first
    second = text(client.get("/mes-cartes/?page=2"))
    assert listed(second) == ids[20:] and 'href="/mes-cartes/?page=1" rel="prev"' in second


@pytest.mark.parametrize("asked, number", [("0", 1), ("abc", 1), ("-1", 1), ("3", 2), ("100001", 2)])
def test_mes_cartes_brings_a_page_number_back_to_the_list(client, driver, asked, number):
    ids = more_cards(driver, 25)
    page = text(client.get(f"/mes-cartes/?page={asked}"))
    assert f"Page {number} sur 2" in page and listed(page) == ids[(number - 1) * 20:number * 20]


def test_a_replacement_of_a_replacement_shows_the_photo_of_the_first_request(client, driver, card, agent):
    from models import ProcedureCode, Replacement
    from services import transitions
    from services.procedures.replacements import reproduce

    first = uploads.current_document(card.dossier_id, "photo")
    replaced = card
    for _ in range(2):  # the card lost, its replacement lost too
        Card.update(state=CardState.ACTIVEE).where(Card.id == replaced.id).execute()
        loss = transitions.open_dossier(ProcedureCode.CQC_PERTE, driver)
        Replacement.create(dossier=loss, card=replaced, reason="perte", commitment=True)
        replaced = reproduce(loss, agent)
    page = text(client.get("/mes-cartes/"))
    for shown in (card, Card.get(Card.replaced_by == replaced.id), replaced):
        assert f'src="/mes-demandes/{card.dossier_id}/documents/{first.id}"' in card_block(page, shown)
