"""Guide 001/004 « Je fais ma demande », « Je suis le parcours de ma demande », « Je réponds à ma demande
d'information complémentaire »: the CQC request from « Commencer » to « Répondre »."""
import html
import os
import re

import pytest

from models import (
    Anomaly,
    CqcRequest,
    Document,
    Dossier,
    DossierEvent,
    OutboxMessage,
    Procedure,
    RequestState,
)
from models import ProcedureCode
from services import dossiers, procedures, storage, uploads
from tests.driver_data import (
    JPEG,
    PDF,
    PNG,
    complete_request,
    fast_pdfs,
    file_storage,
    make_centre,
    record,
    upload,
)


def text(response):
    """Return a page as a person reads it (entities decoded)."""
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture(autouse=True)
def _fast_pdfs(monkeypatch):
    fast_pdfs(monkeypatch)


@pytest.fixture
def centre(app):
    return make_centre()


@pytest.fixture
def driver(make_driver, login_user, centre):
    """A logged-in driver whose FIMO gives the right to a new CQC."""
    user = make_driver(state="active")
    record(centre, user)
    login_user(user)
    return user


@pytest.fixture
def agent(make_staff):
    return make_staff(procedures=["CQC"])


def cqc_files():
    return Dossier.select().join(Procedure).where(Procedure.code == "CQC")


def start(client):
    """Press « Commencer » and return the new draft."""
    response = client.post("/mes-demandes/cqc")
    assert response.status_code == 302, text(response)
    return cqc_files().order_by(Dossier.id.desc()).first()


def step_url(dossier, step):
    return f"/mes-demandes/{dossier.id}/etapes/{step}"


def fill_until(client, dossier, last):
    """Go through the steps with valid input, pressing « Suivant » up to and including `last`."""
    posts = {
        "identite": {"identity_confirmed": "y"},
        "photo": {"document": upload(JPEG, "photo.jpg")},
        "signature": {"document": upload(PNG, "signature.png")},
        "piece_identite": {"document": upload(PDF, "carte-identite.pdf")},
        "adresse": {"delivery_name": "Paul MARTIN", "delivery_address": "3 place du Général de Gaulle",
                    "delivery_address_extra": "Bâtiment B", "delivery_postal_code": "59800", "delivery_city": "Lille"},
    }
    for step in procedures.get(ProcedureCode.CQC).step_names:
        response = client.post(step_url(dossier, step), data={**posts[step], "action": "suivant"},
                               content_type="multipart/form-data")
        assert response.status_code == 302, (step, text(response))
        if step == last:
            return response


def entry(page, dossier):
    """Return the « Mes demandes en cours » entry of one request."""
    match = re.search(rf'<article class="request[^"]*" id="demande-{dossier.id}">(.*?)</article>', page, re.S)
    assert match, page
    return match.group(1)


def shown_actions(client, dossier):
    page = text(client.get("/mes-demandes/?rubrique=en-cours"))
    return re.findall(r'data-action="(\w+)"', entry(page, dossier))


# --- « Faire une demande » ----------------------------------------------------------------------


def test_faire_une_demande_shows_the_cqc_card_then_the_expected_documents(client, driver):
    page = text(client.get("/mes-demandes/"))
    assert "Faire une demande" in page and "Mes demandes en cours" in page
    assert 'href="/mes-demandes/cqc"' in page
    page = text(client.get("/mes-demandes/cqc"))
    for label in ["Photo d'identité", "Signature", "Pièce d'identité"]:
        assert f"<li>{label}</li>" in page
    assert "Commencer" in page


def test_commencer_is_refused_without_a_training_giving_the_right(client, make_driver, login_user):
    login_user(make_driver(state="active"))
    response = client.post("/mes-demandes/cqc")
    page = text(response)
    assert response.status_code == 200
    assert "Aucune formation vous donnant droit à une nouvelle carte CQC" in page
    assert cqc_files().count() == 0


def test_commencer_is_refused_once_the_certificate_has_expired(client, clock, driver):
    clock.advance(days=130)
    page = text(client.post("/mes-demandes/cqc"))
    assert "délai de 4 mois" in page and cqc_files().count() == 0


def test_commencer_is_refused_while_the_training_is_used_by_a_live_request(client, driver):
    complete_request(driver)
    page = text(client.post("/mes-demandes/cqc"))
    assert "fait déjà l'objet d'une demande" in page
    assert cqc_files().count() == 1


def test_commencer_is_allowed_again_after_annuler(client, driver):
    first = start(client)
    assert client.post("/mes-demandes/cqc").headers["Location"].endswith(step_url(first, "identite"))  # the same draft
    client.post(f"/mes-demandes/{first.id}/annuler")
    assert Dossier.get_by_id(first.id).state == RequestState.ANNULEE
    second = start(client)
    assert second.id != first.id and second.state == RequestState.BROUILLON


# --- The steps ------------------------------------------------------------------------------------


def test_the_whole_request_up_to_mon_dossier_est_envoye(client, driver):
    dossier = start(client)
    page = text(client.get(step_url(dossier, "identite")))
    assert "Vérification de mon identité" in page and "Étape 1 sur 6" in page
    assert "MARTIN" in page and driver.driver.licence_number in page and "19/08/1991" in page
    assert "Je certifie l'exactitude de ces informations" in page
    page = text(client.get(step_url(dossier, "identite")))
    fill_until(client, dossier, "adresse")
    page = text(client.get(step_url(dossier, "recapitulatif")))
    assert "Récapitulatif" in page and "Valider ma demande" in page
    assert "photo.jpg" in page and "signature.png" in page and "carte-identite.pdf" in page
    assert "3 place du Général de Gaulle" in page and "59800 Lille" in page
    assert "FIMO Marchandises" in page
    response = client.post(step_url(dossier, "recapitulatif"), data={"action": "valider"})
    assert response.headers["Location"].endswith(f"/mes-demandes/{dossier.id}/envoyee")
    page = text(client.get(response.headers["Location"]))
    assert "Mon dossier est envoyé pour traitement" in page
    assert 'href="/mes-demandes/?rubrique=en-cours"' in page and "Mes demandes en cours" in page
    dossier = Dossier.get_by_id(dossier.id)
    assert dossier.state == RequestState.ENVOYEE
    assert [e.event for e in dossier.history.order_by(DossierEvent.id)] == ["create", "submit"]
    request = dossier.cqc.get()
    assert request.identity_confirmed and request.delivery_address_extra == "Bâtiment B"
    assert {d.kind: d.content_type for d in dossier.documents} == {
        "photo": "image/jpeg", "signature": "image/png", "identite": "application/pdf"}
    assert OutboxMessage.select().where(OutboxMessage.subject == "Votre demande est envoyée pour traitement").exists()
    # A sent request's steps are closed: they lead to its summary.
    assert client.get(step_url(dossier, "adresse")).headers["Location"].endswith(f"/mes-demandes/{dossier.id}")


def test_the_address_is_pre_filled_from_the_account_and_checked_in_french(client, driver):
    dossier = start(client)
    fill_until(client, dossier, "piece_identite")
    page = text(client.get(step_url(dossier, "adresse")))
    assert 'value="12 rue des Lilas"' in page and 'value="59000"' in page and 'value="Lille"' in page
    response = client.post(step_url(dossier, "adresse"), data={
        "delivery_name": "Paul MARTIN", "delivery_address": "7 rue Neuve", "delivery_address_extra": "",
        "delivery_postal_code": "5900", "delivery_city": "", "action": "suivant"})
    page = text(response)
    assert response.status_code == 200
    assert "Le code postal comporte 5 chiffres." in page and "Ce champ est obligatoire." in page
    assert 'value="7 rue Neuve"' in page and 'value="5900"' in page  # what was typed stays
    assert CqcRequest.get(CqcRequest.dossier == dossier).step == "adresse"


def test_an_upload_lying_about_its_type_is_refused_and_nothing_is_lost(client, driver):
    dossier = start(client)
    fill_until(client, dossier, "photo")
    kept = Document.get(Document.dossier == dossier, Document.kind == "photo")
    response = client.post(step_url(dossier, "photo"), data={
        "document": upload(b"je ne suis pas une image", "photo.jpg"), "action": "suivant"})
    page = text(response)
    assert response.status_code == 200
    assert "Format non accepté : seuls les fichiers JPEG et PNG sont acceptés." in page
    assert 'class="field has-error"' in page
    assert "photo.jpg" in page and f"/documents/{kept.id}" in page  # the file saved before is still there
    assert [d.id for d in Document.select().where(Document.dossier == dossier)] == [kept.id]
    assert os.path.exists(storage.full_path(kept.path))
    assert CqcRequest.get(CqcRequest.dossier == dossier).identity_confirmed


def test_a_too_big_file_is_refused(client, driver):
    dossier = start(client)
    fill_until(client, dossier, "signature")
    big = PDF + b"0" * (5 * 1024 * 1024)
    page = text(client.post(step_url(dossier, "piece_identite"), data={
        "document": upload(big, "scan.pdf"), "action": "suivant"}))
    assert "Le fichier dépasse 5 Mo" in page
    assert not Document.select().where(Document.dossier == dossier, Document.kind == "identite").exists()
    # Past the request size limit the page comes back with the same message.
    huge = PDF + b"0" * (13 * 1024 * 1024)
    response = client.post(step_url(dossier, "piece_identite"), data={"document": upload(huge, "scan.pdf")})
    assert response.status_code == 302
    assert "Le fichier dépasse 5 Mo" in text(client.get(response.headers["Location"]))


def test_a_step_needs_its_file_but_keeps_the_one_already_sent(client, driver):
    dossier = start(client)
    fill_until(client, dossier, "identite")
    page = text(client.post(step_url(dossier, "photo"), data={"action": "suivant"}))
    assert "Choisissez un fichier." in page
    fill_until(client, dossier, "photo")
    # Going on without choosing again keeps the photo already sent.
    response = client.post(step_url(dossier, "photo"), data={"action": "suivant"})
    assert response.headers["Location"].endswith(step_url(dossier, "signature"))


def test_precedent_goes_back_without_losing_anything(client, driver):
    dossier = start(client)
    fill_until(client, dossier, "piece_identite")
    response = client.post(step_url(dossier, "adresse"), data={
        "delivery_name": "Paul MARTIN", "delivery_address": "9 rue Haute", "delivery_address_extra": "",
        "delivery_postal_code": "123", "delivery_city": "Douai", "action": "precedent"})
    assert response.headers["Location"].endswith(step_url(dossier, "piece_identite"))
    page = text(client.get(step_url(dossier, "piece_identite")))
    assert "carte-identite.pdf" in page
    page = text(client.get(step_url(dossier, "adresse")))
    # The fields typed correctly are kept; the wrong postal code is not saved.
    assert 'value="9 rue Haute"' in page and 'value="Douai"' in page and 'value="59000"' in page
    request = CqcRequest.get(CqcRequest.dossier == dossier)
    assert request.step == "adresse" and request.identity_confirmed


def test_reprendre_resumes_at_the_step_left(client, driver):
    dossier = start(client)
    fill_until(client, dossier, "photo")
    page = text(client.get("/mes-demandes/?rubrique=en-cours"))
    assert f'href="{step_url(dossier, "signature")}">Reprendre' in entry(page, dossier).replace("\n", "")
    # Steps not reached yet lead back to the step left; the ones before stay open.
    assert client.get(step_url(dossier, "recapitulatif")).headers["Location"].endswith(step_url(dossier, "signature"))
    assert client.get(step_url(dossier, "identite")).status_code == 200
    # « Commencer » again also resumes the draft.
    assert client.post("/mes-demandes/cqc").headers["Location"].endswith(step_url(dossier, "signature"))


def test_a_request_cannot_be_sent_incomplete(client, driver):
    dossier = start(client)
    fill_until(client, dossier, "adresse")
    Document.delete().where(Document.kind == "signature").execute()
    page = text(client.post(step_url(dossier, "recapitulatif"), data={"action": "valider"}))
    assert "Votre demande est incomplète : Ma signature." in page
    assert Dossier.get_by_id(dossier.id).state == RequestState.BROUILLON


def test_annuler_erases_the_documents_and_the_data(client, driver):
    dossier = start(client)
    fill_until(client, dossier, "adresse")
    paths = [storage.full_path(d.path) for d in Document.select().where(Document.dossier == dossier)]
    assert len(paths) == 3 and all(os.path.exists(p) for p in paths)
    response = client.post(f"/mes-demandes/{dossier.id}/annuler")
    assert response.headers["Location"].endswith("/mes-demandes/?rubrique=en-cours")
    page = text(client.get(response.headers["Location"]))
    assert "ne sont pas conservés" in page
    assert not any(os.path.exists(p) for p in paths)
    assert Document.select().where(Document.dossier == dossier).count() == 0
    request = CqcRequest.get(CqcRequest.dossier == dossier)
    assert not request.identity_confirmed
    assert (request.delivery_name, request.delivery_address, request.delivery_postal_code, request.delivery_city) == ("", "", "", "")
    assert Dossier.get_by_id(dossier.id).state == RequestState.ANNULEE
    assert shown_actions(client, dossier) == []
    assert "Annulée" in entry(page, dossier)


# --- « Mes demandes en cours » --------------------------------------------------------------------


def test_the_actions_follow_the_state(client, driver, agent, centre, make_driver):
    dossier = start(client)
    assert shown_actions(client, dossier) == ["reprendre", "annuler"]
    client.post(f"/mes-demandes/{dossier.id}/annuler")
    assert shown_actions(client, dossier) == []
    record(centre, driver, "FCO", ended_days_ago=1)
    dossier = complete_request(driver)
    assert shown_actions(client, dossier) == ["afficher"]
    dossiers.take(dossier, agent)
    assert shown_actions(client, dossier) == ["afficher"]
    dossiers.ask_info(dossier, agent, {"document:photo": "Photo floue"})
    assert shown_actions(client, dossier) == ["afficher", "repondre", "detail"]
    dossiers.answer(dossier, driver, {}, {"document:photo": file_storage(JPEG, "photo-nette.jpg")})
    assert shown_actions(client, dossier) == ["afficher"]
    dossiers.accept(dossier, agent)
    assert shown_actions(client, dossier) == ["afficher"]
    record(centre, driver, "Passerelle", "Voyageurs", ended_days_ago=1)
    other = complete_request(driver)
    dossiers.take(other, agent)
    dossiers.reject(other, agent, "Photo non conforme")
    assert shown_actions(client, other) == ["afficher"]
    page = text(client.get("/mes-demandes/?rubrique=en-cours"))
    assert "Motif : Photo non conforme" in entry(page, other)


def test_each_request_shows_its_last_step_and_unfolds_its_history(client, driver, agent):
    dossier = complete_request(driver)
    dossiers.take(dossier, agent)
    page = text(client.get("/mes-demandes/"))  # the rubrique opens on the requests in progress
    item = entry(page, dossier)
    assert '<details class="history">' in item and "<summary>" in item
    summary = item.split("</summary>")[0]
    assert "En cours d'instruction" in summary
    timeline = item.split("</summary>")[1]
    assert timeline.index("Brouillon") < timeline.index("Envoyée") < timeline.index("instruction")


def test_afficher_shows_the_summary_read_only(client, driver):
    dossier = complete_request(driver)
    page = text(client.get(f"/mes-demandes/{dossier.id}"))
    assert "Récapitulatif de ma demande" in page and "photo.jpg" in page and "12 rue des Lilas" in page
    assert "Valider ma demande" not in page and "Modifier" not in page


def test_the_owner_previews_an_uploaded_document(client, driver):
    dossier = start(client)
    fill_until(client, dossier, "photo")
    photo = Document.get(Document.dossier == dossier, Document.kind == "photo")
    page = text(client.get(step_url(dossier, "photo")))
    assert f'href="/mes-demandes/{dossier.id}/documents/{photo.id}"' in page and "photo.jpg" in page
    response = client.get(f"/mes-demandes/{dossier.id}/documents/{photo.id}")
    assert response.status_code == 200 and response.mimetype == "image/jpeg" and response.data == JPEG
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- « Répondre » -----------------------------------------------------------------------------------


@pytest.fixture
def asked(driver, agent):
    """A request on which IN Groupe asked for a new postal code and a new photo."""
    dossier = complete_request(driver)
    dossiers.take(dossier, agent)
    dossiers.ask_info(dossier, agent, {"delivery_postal_code": "Code postal erroné", "document:photo": "Photo floue"})
    return Dossier.get_by_id(dossier.id)


def test_detail_lists_what_to_correct_and_why(client, asked):
    page = text(client.get("/mes-demandes/?rubrique=en-cours"))
    item = entry(page, asked)
    assert "<summary>Détail</summary>" in item
    assert "Code postal de livraison" in item and "Code postal erroné" in item
    assert "Photo d'identité" in item and "Photo floue" in item


def test_repondre_asks_only_for_the_items_named(client, asked):
    page = text(client.get(f"/mes-demandes/{asked.id}/repondre"))
    assert 'name="delivery_postal_code"' in page and 'value="59000"' in page
    assert 'name="document:photo"' in page and 'type="file"' in page
    for other in ["delivery_city", "delivery_address", "delivery_name", "document:signature", "document:identite"]:
        assert f'name="{other}"' not in page


def test_repondre_changes_only_the_items_asked_and_goes_back_to_instruction(client, asked):
    before = CqcRequest.get(CqcRequest.dossier == asked)
    old_photo = uploads.current_document(asked, "photo")
    signature = uploads.current_document(asked, "signature")
    response = client.post(f"/mes-demandes/{asked.id}/repondre", data={
        "delivery_postal_code": "59 800", "document:photo": upload(PNG, "nouvelle-photo.png"),
        "delivery_city": "Paris"})  # not asked: ignored
    assert response.status_code == 302
    assert "de nouveau en cours de traitement" in text(client.get(response.headers["Location"]))
    dossier = Dossier.get_by_id(asked.id)
    assert dossier.state == RequestState.EN_INSTRUCTION
    after = CqcRequest.get(CqcRequest.dossier == asked)
    assert after.delivery_postal_code == "59800"
    assert (after.delivery_city, after.delivery_address, after.delivery_name) == (
        before.delivery_city, before.delivery_address, before.delivery_name)
    photo = uploads.current_document(asked, "photo")
    assert photo.original_name == "nouvelle-photo.png" and photo.content_type == "image/png"
    assert Document.get_by_id(old_photo.id).replaced_at is not None  # staff see what changed
    assert uploads.current_document(asked, "signature").id == signature.id
    assert not dossier.open_anomalies().exists()
    assert {a.field: a.new_value.split(" (")[0] for a in Anomaly.select()} == {
        "delivery_postal_code": "59800", "document:photo": "nouvelle-photo.png"}
    assert dossier.history.order_by(DossierEvent.id.desc()).first().event == "answer"


def test_a_wrong_answer_keeps_what_was_typed_and_uploaded(client, asked):
    response = client.post(f"/mes-demandes/{asked.id}/repondre", data={
        "delivery_postal_code": "ABCDE", "document:photo": upload(JPEG, "bonne-photo.jpg")})
    page = text(response)
    assert response.status_code == 200 and "Le code postal comporte 5 chiffres." in page
    assert 'value="ABCDE"' in page and "Nouveau fichier retenu" in page and "bonne-photo.jpg" in page
    assert Dossier.get_by_id(asked.id).state == RequestState.ATTENTE_COMPLEMENT
    response = client.post(f"/mes-demandes/{asked.id}/repondre", data={"delivery_postal_code": "59800"})
    assert response.status_code == 302
    assert uploads.current_document(asked, "photo").original_name == "bonne-photo.jpg"
    assert Dossier.get_by_id(asked.id).state == RequestState.EN_INSTRUCTION


def test_a_lying_file_in_an_answer_is_refused(client, asked):
    page = text(client.post(f"/mes-demandes/{asked.id}/repondre", data={
        "delivery_postal_code": "59800", "document:photo": upload(b"texte", "photo.jpg")}))
    assert "Format non accepté" in page and 'value="59800"' in page
    assert Dossier.get_by_id(asked.id).state == RequestState.ATTENTE_COMPLEMENT


# --- Only the holder -------------------------------------------------------------------------------


def test_another_driver_gets_404_everywhere(app, client, driver, asked, make_driver):
    document = uploads.current_document(asked, "signature")
    intruder = make_driver(state="active")
    other = app.test_client()
    other.post("/connexion", data={"email": intruder.email, "password": "Correct-Horse-42!"})
    for url in [f"/mes-demandes/{asked.id}", f"/mes-demandes/{asked.id}/etapes/identite",
                f"/mes-demandes/{asked.id}/documents/{document.id}", f"/mes-demandes/{asked.id}/repondre",
                f"/mes-demandes/{asked.id}/envoyee"]:
        assert other.get(url).status_code == 404, url
    assert other.post(f"/mes-demandes/{asked.id}/annuler").status_code == 404
    assert other.post(f"/mes-demandes/{asked.id}/repondre", data={"delivery_postal_code": "75001"}).status_code == 404
    assert f"demande-{asked.id}" not in text(other.get("/mes-demandes/?rubrique=en-cours"))
    assert CqcRequest.get(CqcRequest.dossier == asked).delivery_postal_code == "59000"
    # The holder still gets them.
    assert client.get(f"/mes-demandes/{asked.id}/documents/{document.id}").status_code == 200


# --- Home page -----------------------------------------------------------------------------------


def test_home_follows_the_requests_in_progress(client, driver, agent, centre):
    draft = start(client)
    client.post(f"/mes-demandes/{draft.id}/annuler")
    dossier = complete_request(driver)
    dossiers.take(dossier, agent)
    page = text(client.get("/"))
    section = page.split("Suivi de mes demandes")[1]
    assert f"Demande n° {dossier.id}" in section and "instruction" in section
    assert f"Demande n° {draft.id}" not in section
    assert f'href="/mes-demandes/?rubrique=en-cours#demande-{dossier.id}"' in section


# --- Issue 12: « Mes demandes en cours » a page at a time -----------------------------------------------------


def many_requests(user, count):
    """Give the driver `count` sent CQC requests, one a day; return their ids newest first."""
    import datetime as dt

    from services import transitions

    made = []
    for n in range(count):
        dossier = transitions.open_dossier(ProcedureCode.CQC, user)
        CqcRequest.create(dossier=dossier, training=user.trainings.get())
        Dossier.update(state=RequestState.ENVOYEE, created_at=dt.datetime(2024, 1, 1) + dt.timedelta(days=n)).where(
            Dossier.id == dossier.id).execute()
        made.append(dossier.id)
    return list(reversed(made))


def requests_listed(page):
    return [int(n) for n in re.findall(r'<article class="request[^"]*" id="demande-(\d+)">', page)]


def test_mes_demandes_en_cours_is_paginated_20_a_page(client, driver):
    ids = many_requests(driver, 23)
    first = text(client.get("/mes-demandes/"))  # the rubrique « Mes demandes en cours » when there are requests
    assert requests_listed(first) == ids[:20] and "Page 1 sur 2" in first
    assert 'href="/mes-demandes/?page=2&rubrique=en-cours" rel="next">Page suivante' in first
    second = text(client.get("/mes-demandes/?rubrique=en-cours&page=2"))
    assert requests_listed(second) == ids[20:] and "Page 2 sur 2" in second and "Page précédente" in second
    # « Faire une demande » stays one page.
    assert "Page 1 sur" not in text(client.get("/mes-demandes/?rubrique=faire&page=2"))


@pytest.mark.parametrize("asked, number", [("0", 1), ("x", 1), ("-3", 1), ("9", 2), ("99999999999999999999", 2)])
def test_mes_demandes_brings_a_page_number_back_to_the_list(client, driver, asked, number):
    ids = many_requests(driver, 23)
    page = text(client.get(f"/mes-demandes/?rubrique=en-cours&page={asked}"))
    assert f"Page {number} sur 2" in page and requests_listed(page) == ids[(number - 1) * 20:number * 20]
