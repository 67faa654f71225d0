"""« Cartes »: staff ship cards, declare them delivered or returned, one by one or in bulk."""
import html
import re

import pytest

from models import Card, CardEvent, CardState, Notification, StaffRole
from services import dossiers
from tests.conftest import last_email
from tests.cqc_files import PDF, make_centre, record_for, sent_request

LIST = "/admin/cards_admin/"


def text(response):
    return html.unescape(response.get_data(as_text=True))


def move(client, card, event):
    return client.post(f"/admin/cards_admin/carte/{card.id}/{event}")


def bulk(client, action, cards):
    return client.post("/admin/cards_admin/action/", data={"action": action, "rowid": [str(c.id) for c in cards], "url": LIST})


def state_of(card):
    return Card.get_by_id(card.id).state


@pytest.fixture(autouse=True)
def fast_pdfs(monkeypatch):
    from services import documents

    monkeypatch.setattr(documents, "summary_pdf", lambda training: PDF)
    monkeypatch.setattr(documents, "certificate_pdf", lambda certificate: PDF)


@pytest.fixture
def ordered(app, make_driver, make_staff):
    """Return a new card « en fabrication », ordered by an accepted CQC request."""
    centre = make_centre()
    processor = make_staff(procedures=["CQC"], email="instructeur@ingroupe.fr")

    def make(**identity):
        user = make_driver(state="active", **identity)
        record_for(centre, user)
        dossier = sent_request(user)
        dossiers.take(dossier, processor)
        return dossiers.accept(dossier, processor)

    return make


@pytest.fixture
def agent(make_staff, login_staff):
    member = make_staff(procedures=["CQC"])
    login_staff(member)
    return member


def test_the_list_shows_the_cards_with_the_moves_their_state_allows(client, agent, ordered):
    card = ordered(last_name="Lefèvre")
    page = text(client.get(LIST))
    assert card.number in page and "LEFÈVRE" in page and "Carte en fabrication" in page
    assert f'action="/admin/cards_admin/carte/{card.id}/ship"' in page
    assert f"/carte/{card.id}/deliver" not in page
    assert "Déclarer en pli non distribué" in page  # offered for the selection (bulk)


def test_ship_then_deliver_one_card_and_read_its_history(client, agent, ordered):
    card = ordered()
    response = move(client, card, "ship")
    assert response.status_code == 302
    assert state_of(card) == CardState.EXPEDIEE
    assert last_email(card.user.email).subject == "Votre carte est expédiée"
    assert "1 carte(s) expédiée(s)" in text(client.get(LIST))

    move(client, card, "deliver")
    assert state_of(card) == CardState.LIVREE
    events = list(CardEvent.select().where(CardEvent.card == card).order_by(CardEvent.id))
    assert [(e.event, e.to_state) for e in events] == [
        ("order", CardState.EN_FABRICATION), ("ship", CardState.EXPEDIEE), ("deliver", CardState.LIVREE)]
    assert events[-1].staff_id == agent.id

    page = text(client.get(f"/admin/cards_admin/carte/{card.id}"))
    assert f"Carte n° {card.number}" in page and "Carte livrée" in page
    assert "Carte expédiée par IN Groupe" in page and "Livraison constatée" in page
    assert "Commande suite à la demande" in page
    assert "59000 Lille" in page
    assert "Expédier</button>" not in page  # nothing left to do from « livrée » here


def test_a_returned_card_tells_the_driver_pli_non_distribue(client, agent, ordered):
    card = ordered()
    move(client, card, "ship")
    move(client, card, "return")
    assert state_of(card) == CardState.PND
    note = Notification.select().where(Notification.user == card.user).order_by(Notification.id.desc()).first()
    assert "pli non distribué" in note.message
    mail = last_email(card.user.email)
    assert mail.subject == "Votre carte est revenue en pli non distribué"
    assert "confirmez ou modifiez votre adresse" in mail.body_text


def test_an_illegal_move_of_one_card_is_reported(client, agent, ordered):
    card = ordered()
    move(client, card, "deliver")
    assert state_of(card) == CardState.EN_FABRICATION
    page = text(client.get(LIST))
    assert f"n° {card.number} : Impossible de déclarer livrée une carte à l'état « Carte en fabrication »." in page
    assert move(client, card, "activate").status_code == 404  # not a move made here


def test_bulk_ship_then_deliver_and_return(client, agent, ordered):
    first, second, third = ordered(), ordered(), ordered()
    assert bulk(client, "ship", [first, second, third]).status_code == 302
    assert {state_of(c) for c in (first, second, third)} == {CardState.EXPEDIEE}
    assert f"3 carte(s) expédiée(s) : n° {first.number}, {second.number}, {third.number}." in text(client.get(LIST))

    bulk(client, "deliver", [first, second])
    bulk(client, "return", [third])
    assert (state_of(first), state_of(second), state_of(third)) == (CardState.LIVREE, CardState.LIVREE, CardState.PND)
    assert "pli non distribué" in Notification.select().where(Notification.user == third.user).order_by(
        Notification.id.desc()).first().message


def test_an_illegal_bulk_move_reports_the_refused_cards_and_moves_the_others(client, agent, ordered):
    waiting, shipped, delivered = ordered(), ordered(), ordered()
    bulk(client, "ship", [shipped, delivered])
    bulk(client, "deliver", [delivered])

    bulk(client, "deliver", [waiting, shipped, delivered])
    assert (state_of(waiting), state_of(shipped), state_of(delivered)) == (
        CardState.EN_FABRICATION, CardState.LIVREE, CardState.LIVREE)
    page = text(client.get(LIST))
    assert f"1 carte(s) déclarée(s) livrée(s) : n° {shipped.number}." in page
    assert "2 carte(s) refusée(s) pour « Déclarer livrée » :" in page
    assert f"n° {waiting.number} : Impossible de déclarer livrée une carte à l'état « Carte en fabrication »." in page
    assert f"n° {delivered.number} : Impossible de déclarer livrée une carte à l'état « Carte livrée »." in page
    assert CardEvent.select().where(CardEvent.event == "deliver").count() == 2


def test_filter_by_state_and_search_by_number_or_name(client, agent, ordered):
    dupont, durand = ordered(last_name="Dupont"), ordered(last_name="Durand")
    move(client, durand, "ship")
    shipped = text(client.get(LIST, query_string={"flt0_0": CardState.EXPEDIEE}))
    assert "DURAND" in shipped and "DUPONT" not in shipped
    for term in (dupont.number, "dupont"):
        page = text(client.get(LIST, query_string={"search": term}))
        assert "DUPONT" in page and "DURAND" not in page, term


def test_an_agent_without_the_cqc_habilitation_sees_no_card_and_moves_none(client, make_staff, login_staff, ordered):
    card = ordered(last_name="Secret")
    login_staff(make_staff(procedures=["COMPTE_PARTICULIER"]))
    assert "SECRET" not in text(client.get(LIST))
    assert client.get(f"/admin/cards_admin/carte/{card.id}").status_code == 404
    assert move(client, card, "ship").status_code == 403
    assert bulk(client, "ship", [card]).status_code == 403
    assert state_of(card) == CardState.EN_FABRICATION


def test_a_local_administrator_without_gestion_des_teledossiers_sees_but_moves_nothing(client, make_staff, login_staff, ordered):
    card = ordered(last_name="Visible")
    login_staff(make_staff(role=StaffRole.LOCAL_ADMIN))
    page = text(client.get(LIST))
    assert "VISIBLE" in page and "/ship" not in page and "action_form" not in page
    assert "pas la faire évoluer" in text(client.get(f"/admin/cards_admin/carte/{card.id}"))
    assert move(client, card, "ship").status_code == 403
    assert bulk(client, "ship", [card]).status_code == 403
    assert state_of(card) == CardState.EN_FABRICATION


def test_the_request_page_links_to_its_card(client, agent, ordered):
    card = ordered()
    page = text(client.get(f"/admin/cqc_requests/demande/{card.dossier_id}"))
    assert re.search(rf'Carte n° <strong>{card.number}</strong>', page)
    assert f'href="/admin/cards_admin/carte/{card.id}"' in page
