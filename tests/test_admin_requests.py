"""« Demandes de CQC »: the staff queue, the request page and its decisions."""
import datetime as dt
import html
import re
import threading

import pytest

from models import (
    Anomaly,
    Card,
    CardState,
    Document,
    Dossier,
    DossierEvent,
    Notification,
    OutboxMessage,
    RequestState,
    StaffRole,
    db,
)
from models import ProcedureCode, clock, deadlines
from services import dossiers, transitions, uploads
from tests.conftest import last_email
from tests.cqc_files import PDF, PNG, make_centre, png, record_for, sent_request, upload

QUEUE = "/admin/cqc_requests/"


def page_of(dossier):
    return f"/admin/cqc_requests/demande/{dossier.id}"


def text(response):
    return html.unescape(response.get_data(as_text=True))


def plain(page):
    """Return a page's text without its tags, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", "", page).split())


@pytest.fixture(autouse=True)
def fast_pdfs(monkeypatch):
    """The certificate's PDF does not matter here (tests/test_documents.py reads it)."""
    from tests import driver_data

    driver_data.fast_pdfs(monkeypatch)


@pytest.fixture
def centre(app):
    return make_centre()


@pytest.fixture
def sent(centre, make_driver):
    """Return a new driver's CQC request, sent (« envoyée »)."""

    def make(**identity):
        user = make_driver(state="active", **identity)
        record_for(centre, user)
        return sent_request(user)

    return make


@pytest.fixture
def agent(make_staff, login_staff):
    member = make_staff(procedures=["CQC"])
    login_staff(member)
    return member


def decide(client, dossier, decision, **form):
    return client.post(page_of(dossier), data={"decision": decision, **form})


# --- The queue -------------------------------------------------------------------------------------


def test_the_queue_shows_sent_requests_oldest_first_without_drafts_or_cancelled_ones(
    client, agent, sent, centre, make_driver, clock
):
    first = sent(last_name="Ancien")
    clock.advance(hours=2)
    second = sent(last_name="Recent")
    draft_user = make_driver(state="active", last_name="Brouillon")
    record_for(centre, draft_user)
    dossiers.start(ProcedureCode.CQC, draft_user)
    cancelled_user = make_driver(state="active", last_name="Annule")
    record_for(centre, cancelled_user)
    dossiers.cancel(dossiers.start(ProcedureCode.CQC, cancelled_user), cancelled_user)

    page = text(client.get(QUEUE))
    assert page.index("ANCIEN") < page.index("RECENT")
    assert "BROUILLON" not in page and "ANNULE" not in page
    assert f'href="{page_of(first)}"' in page and f'href="{page_of(second)}"' in page
    assert "FIMO Marchandises" in page and "Envoyée" in page

    # The quick state choices are filters: the drafts are one click away.
    link = re.search(r'href="([^"]*flt\d+_\d+=brouillon)"', page).group(1)
    drafts = text(client.get(link))
    assert "BROUILLON" in drafts and "ANCIEN" not in drafts


def test_suivante_continues_after_the_last_file_shown_in_the_queue_order(client, agent, sent, clock):
    files = []
    for n in range(27):
        files.append(sent(last_name=f"Titulaire{n:02d}"))
        if n % 3:
            clock.advance(minutes=5)  # some files sent at the same second: the number breaks the tie
    first = text(client.get(QUEUE))
    shown = re.findall(r'/demande/(\d+)"', first)
    assert shown == [str(f.id) for f in files[:25]] and "Première page" not in first
    following = re.search(r'href="([^"]+apres=[^"]+)">Suivante', first).group(1)
    second = text(client.get(following))
    assert re.findall(r'/demande/(\d+)"', second) == [str(f.id) for f in files[25:]]
    assert "Suivante" not in second and "Première page" in second
    # Sorted otherwise, the pages are numbered; a forged « apres » is the first page, never an error.
    assert "page=1" in text(client.get(QUEUE + "?sort=1&desc=1"))
    for forged in ("x~y", "2026-01-01T00:00:00~99999999999", "~", "2026-13-45T99:00~1"):
        assert client.get(QUEUE + "?apres=" + forged).status_code == 200


def test_the_queue_searches_by_name_email_and_licence(client, agent, sent):
    sent(last_name="Dupont", email="dupont@exemple.fr", licence_number="13DU00001")
    sent(last_name="Durand", email="durand@exemple.fr", licence_number="13DR00002")
    for term in ("dupont", "DUPONT@exemple", "13du 00001"):
        page = text(client.get(QUEUE, query_string={"search": term}))
        assert "DUPONT" in page and "DURAND" not in page, term


def test_an_agent_without_the_cqc_habilitation_sees_nothing(client, make_staff, login_staff, sent):
    dossier = sent(last_name="Secret")
    login_staff(make_staff(procedures=["COMPTE_PARTICULIER"]))
    assert "SECRET" not in text(client.get(QUEUE))
    assert client.get(page_of(dossier)).status_code == 404
    document = Document.select().where(Document.dossier == dossier).first()
    assert client.get(f"/admin/cqc_requests/document/{document.id}").status_code == 404
    assert decide(client, dossier, "take").status_code == 404
    assert Dossier.get_by_id(dossier.id).state == RequestState.ENVOYEE


def test_a_local_administrator_without_gestion_des_teledossiers_sees_but_cannot_act(client, make_staff, login_staff, sent):
    dossier = sent(last_name="Visible")
    login_staff(make_staff(role=StaffRole.LOCAL_ADMIN))
    assert "VISIBLE" in text(client.get(QUEUE))
    page = text(client.get(page_of(dossier)))
    assert "Vous pouvez consulter cette demande mais pas la traiter" in page
    assert "Prendre en instruction" not in page
    assert decide(client, dossier, "take").status_code == 403
    assert Dossier.get_by_id(dossier.id).state == RequestState.ENVOYEE


def test_a_local_administrator_with_gestion_des_teledossiers_acts(client, make_staff, login_staff, sent):
    dossier = sent()
    login_staff(make_staff(role=StaffRole.LOCAL_ADMIN, manages_files=True))
    assert decide(client, dossier, "take").status_code == 302
    assert Dossier.get_by_id(dossier.id).state == RequestState.EN_INSTRUCTION


def test_public_accounts_never_reach_the_queue(client, login_user, sent):
    dossier = sent()
    login_user(dossier.user)
    assert client.get(QUEUE).status_code == 403
    assert client.get(page_of(dossier)).status_code == 403


# --- The request page --------------------------------------------------------------------------------


def test_the_page_shows_the_holder_the_training_the_address_the_documents_and_the_history(client, agent, sent):
    dossier = sent(last_name="Lefèvre", first_name="Éloïse", licence_number="13AB00042")
    page = text(client.get(page_of(dossier)))
    assert f"Demande de CQC n° {dossier.id}" in page and "Éloïse LEFÈVRE" in page
    assert "13AB00042" in page and "19/08/1991" in page and "Lille (France)" in page
    assert "FIMO Marchandises" in page and "FORMATRANS" in page and "477 280 846 03753" in page
    assert "12 rue des Lilas" in page and "59000 Lille" in page
    assert "Prendre en instruction" in page and "Accepter" not in page
    assert "Demande envoyée par le titulaire" in page  # the history

    photo, signature, identity = (uploads.current_document(dossier, kind) for kind in ("photo", "signature", "identite"))
    assert f'<img src="/admin/cqc_requests/document/{photo.id}"' in page
    assert f'<img src="/admin/cqc_requests/document/{signature.id}"' in page
    assert f'<iframe src="/admin/cqc_requests/document/{identity.id}"' in page

    shown = client.get(f"/admin/cqc_requests/document/{photo.id}")
    assert shown.status_code == 200 and shown.mimetype == "image/png" and shown.data == PNG
    assert "inline" in shown.headers["Content-Disposition"] and shown.headers["Cache-Control"] == "private, no-store"
    pdf = client.get(f"/admin/cqc_requests/document/{identity.id}")
    assert pdf.mimetype == "application/pdf" and pdf.data == PDF


def test_documents_are_served_only_to_staff_in_scope(client, login_user, login_staff, make_staff, sent):
    dossier = sent()
    url = f"/admin/cqc_requests/document/{uploads.current_document(dossier, 'photo').id}"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/admin/connexion" in anonymous.headers["Location"]
    login_user(dossier.user)
    assert client.get(url).status_code == 403  # the owner sees it from « Mes demandes », not here
    client.post("/deconnexion")
    login_staff(make_staff(procedures=["TACHY_CONDUCTEUR"]))
    assert client.get(url).status_code == 404
    client.post("/admin/deconnexion")
    login_staff(make_staff(procedures=["CQC"]))
    assert client.get(url).status_code == 200


def test_take_then_accept_orders_a_card_valid_five_years(client, agent, sent):
    dossier = sent()
    response = decide(client, dossier, "take")
    assert response.status_code == 302 and response.headers["Location"].endswith(page_of(dossier))
    assert Dossier.get_by_id(dossier.id).state == RequestState.EN_INSTRUCTION
    assert "en cours d'instruction" in Notification.select().order_by(Notification.id.desc()).first().message

    page = text(client.get(page_of(dossier)))
    assert "La demande est prise en instruction." in page
    assert "Accepter" in page and "Refuser" in page and "Demander une information complémentaire" in page
    assert "Prendre en instruction</button>" not in page

    decide(client, dossier, "accept")
    assert Dossier.get_by_id(dossier.id).state == RequestState.ACCEPTEE
    card = Card.get(Card.dossier == dossier)
    today = clock.today()
    assert card.state == CardState.EN_FABRICATION
    assert re.fullmatch(rf"{today:%y}\d{{8}}", card.number)
    assert card.issued_on == today
    assert card.expires_on == deadlines.add_years(today, 5) - dt.timedelta(days=1)
    assert (card.last_name, card.category) == (dossier.user.last_name.upper(), "Marchandises")
    assert card.delivery_lines.splitlines()[-1] == "59000 Lille"
    assert last_email(dossier.user.email).subject == "Votre demande est acceptée"

    page = text(client.get(page_of(dossier)))
    assert f"la carte n° {card.number} est commandée (en fabrication)" in page
    assert f"valable jusqu'au {card.expires_on:%d/%m/%Y}" in page
    assert [e.event for e in dossier.history.order_by(DossierEvent.id)] == ["create", "submit", "take", "accept"]
    assert DossierEvent.get(DossierEvent.event == "accept").staff_id == agent.id


def test_after_an_early_fco_the_new_card_starts_when_the_current_one_ends(client, agent, centre, make_driver):
    user = make_driver(state="active")
    current = Card.create(
        user=user, number="2000000001", category="Marchandises", state=CardState.ACTIVEE, last_name="MARTIN",
        first_name="PAUL", birth_date=dt.date(1991, 8, 19), birth_place="Lille", licence_number=user.driver.licence_number,
        issued_on=clock.today() - dt.timedelta(days=1500), expires_on=clock.today() + dt.timedelta(days=300),
    )
    record_for(centre, user, kind="FCO")
    dossier = sent_request(user)
    decide(client, dossier, "take")
    decide(client, dossier, "accept")
    card = Card.get(Card.dossier == dossier)
    assert card.issued_on == clock.today()
    assert card.expires_on == deadlines.add_years(current.expires_on + dt.timedelta(days=1), 5) - dt.timedelta(days=1)


def test_an_fco_with_no_current_card_gives_five_years_from_today(client, agent, centre, make_driver):
    user = make_driver(state="active")
    record_for(centre, user, kind="FCO")
    dossier = sent_request(user)
    decide(client, dossier, "take")
    decide(client, dossier, "accept")
    assert Card.get(Card.dossier == dossier).expires_on == deadlines.add_years(clock.today(), 5) - dt.timedelta(days=1)


def test_refuser_needs_a_reason_and_tells_the_driver(client, agent, sent):
    dossier = sent()
    decide(client, dossier, "take")
    page = text(decide(client, dossier, "reject", reject_reason="   "))
    assert "Indiquez le motif du refus : il est communiqué au demandeur." in page
    assert Dossier.get_by_id(dossier.id).state == RequestState.EN_INSTRUCTION

    decide(client, dossier, "reject", reject_reason="Formation déclarée pour un autre conducteur")
    assert Dossier.get_by_id(dossier.id).state == RequestState.REFUSEE
    assert not Card.select().exists()
    note = Notification.select().where(Notification.user == dossier.user).order_by(Notification.id.desc()).first()
    assert "Motif : Formation déclarée pour un autre conducteur" in note.message
    assert DossierEvent.get(DossierEvent.event == "reject").comment == "Formation déclarée pour un autre conducteur"


def test_an_illegal_decision_is_reported_and_changes_nothing(client, agent, sent):
    dossier = sent()
    page = text(decide(client, dossier, "accept"))
    assert "Impossible d'accepter un dossier à l'état « Envoyée »." in page
    assert Dossier.get_by_id(dossier.id).state == RequestState.ENVOYEE and not Card.select().exists()
    assert decide(client, dossier, "teleport").status_code == 400


def test_ask_info_names_fields_and_documents_and_notifies_the_driver(client, agent, sent):
    dossier = sent()
    decide(client, dossier, "take")
    response = decide(
        client, dossier, "ask_info",
        **{"item_delivery_postal_code": "1", "reason_delivery_postal_code": "Code postal inexistant",
           "item_document:photo": "1", "reason_document:photo": "Photo floue",
           "reason_delivery_city": "typed but not ticked"},
    )
    assert response.status_code == 302
    assert Dossier.get_by_id(dossier.id).state == RequestState.ATTENTE_COMPLEMENT
    items = {a.field: a for a in Anomaly.select().where(Anomaly.dossier == dossier)}
    assert set(items) == {"delivery_postal_code", "document:photo"}
    assert items["delivery_postal_code"].old_value == "59000"
    assert items["document:photo"].old_value.startswith("photo.png (")

    user = dossier.user
    mail = last_email(user.email)
    assert mail.subject == "Votre demande requiert une information complémentaire"
    assert "Code postal de livraison : Code postal inexistant" in mail.body_text
    assert "Photo d'identité : Photo floue" in mail.body_text
    sms = OutboxMessage.get(OutboxMessage.channel == "sms")
    assert sms.recipient == user.driver.mobile == "+33612345678"
    assert "information complémentaire" in sms.body_text
    assert Notification.select().where(
        Notification.user == user, Notification.message.contains("requiert une information complémentaire")
    ).exists()

    page = text(client.get(page_of(dossier)))
    assert "Information complémentaire demandée, en attente de réponse du titulaire" in page
    assert "Code postal de livraison : Code postal inexistant" in page
    assert "Accepter</button>" not in page and ">Décision</h2>" not in page  # the holder answers first


def test_ask_info_without_a_reason_is_refused_and_keeps_what_was_typed(client, agent, sent):
    dossier = sent()
    decide(client, dossier, "take")
    page = decide(
        client, dossier, "ask_info",
        **{"item_delivery_city": "1", "reason_delivery_city": "Commune mal orthographiée",
           "item_document:signature": "1", "reason_document:signature": ""},
    ).get_data(as_text=True)
    assert "Choisissez au moins une information ou un document à corriger, et la raison pour chacun." in html.unescape(page)
    assert 'value="Commune mal orthographiée"' in page
    assert re.search(r'name="item_delivery_city" value="1" checked', page)
    assert re.search(r'name="item_document:signature" value="1" checked', page)
    assert not Anomaly.select().exists()
    assert Dossier.get_by_id(dossier.id).state == RequestState.EN_INSTRUCTION
    page = decide(client, dossier, "ask_info").get_data(as_text=True)  # nothing ticked
    assert "Choisissez au moins une information" in html.unescape(page)


def test_staff_see_what_changed_after_the_answer(client, agent, sent):
    dossier = sent()
    decide(client, dossier, "take")
    decide(client, dossier, "ask_info", **{
        "item_delivery_postal_code": "1", "reason_delivery_postal_code": "Code postal inexistant",
        "item_document:photo": "1", "reason_document:photo": "Photo floue",
    })
    old_photo = uploads.current_document(dossier, "photo")
    dossiers.answer(Dossier.get_by_id(dossier.id), dossier.user, {"delivery_postal_code": "59800"},
                    {"document:photo": upload(png(30, 40, (200, 0, 0)), "photo-nette.png")})
    assert Dossier.get_by_id(dossier.id).state == RequestState.EN_INSTRUCTION

    page = text(client.get(page_of(dossier)))
    assert "Ce que le titulaire a modifié en réponse" in page
    assert "Code postal de livraison : « 59000 » → « 59800 »" in plain(page)
    assert re.search(r"Photo d'identité : « photo\.png \([^)]*\) » → « photo-nette\.png \(", plain(page))
    new_photo = uploads.current_document(dossier, "photo")
    assert f'<img src="/admin/cqc_requests/document/{new_photo.id}"' in page
    assert f'href="/admin/cqc_requests/document/{old_photo.id}"' in page  # the replaced version stays reachable
    assert "Versions remplacées" in page
    assert "Accepter" in page  # back in instruction: staff decide again


def test_two_staff_accepting_at_once_leave_one_transition_and_one_card(app, make_staff, sent):
    dossier = sent()
    dossiers.take(dossier, make_staff(procedures=["CQC"]))
    agents = [make_staff(procedures=["CQC"]) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes = []

    def accept(agent):
        with app.app_context():
            db.connect(reuse_if_open=True)
            try:
                mine = Dossier.get_by_id(dossier.id)
                assert mine.procedure.code == "CQC"  # loaded like the page loads it, before the race
                barrier.wait()
                dossiers.accept(mine, agent)
                outcomes.append("ok")
            except transitions.TransitionError:
                outcomes.append("refused")
            finally:
                db.close()

    db.close()  # the threads use their own connections and see committed rows
    threads = [threading.Thread(target=accept, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.connect(reuse_if_open=True)
    assert sorted(outcomes) == ["ok", "refused"]
    assert DossierEvent.select().where(DossierEvent.event == "accept").count() == 1
    assert Card.select().count() == 1
    assert Dossier.get_by_id(dossier.id).state == RequestState.ACCEPTEE


def test_the_staff_home_counts_the_requests_to_process(client, sent, make_staff, login_staff):
    sent()
    second = sent()
    agent = make_staff(procedures=["CQC"])
    dossiers.take(second, agent)
    login_staff(agent)
    page = plain(text(client.get("/admin/")))
    assert "Télédossiers à traiter" in page
    assert "(CQC)11" in page.replace(" ", "")  # one sent, one in instruction
    client.post("/admin/deconnexion")
    login_staff(make_staff(procedures=["COMPTE_PARTICULIER"]))
    assert "Aucun télédossier en attente" in plain(text(client.get("/admin/")))
