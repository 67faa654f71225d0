"""Guide 001/004 « Je fais ma demande de remplacement pour Perte / Vol / Qualité » and « Ma carte est revenue en
Pli Non Distribué » (Solution 2): the driver's pages, the payment, the « Remplacements » back-office queue."""
import datetime as dt
import html
import re
import urllib.parse
from decimal import Decimal

import pytest

from models import (
    Anomaly,
    AuditLog,
    Card,
    CardEvent,
    CardState,
    Document,
    Dossier,
    Invoice,
    Payment,
    PaymentStatus,
    Procedure,
    Replacement,
    RequestState,
    StaffRole,
    Tariff,
)
from services import cards, dossiers, payments, uploads
from tests.conftest import TEST_PASSWORD
from tests.driver_data import JPEG, PDF, complete_request, fast_pdfs, make_centre, record, upload
from tests.money_data import pdf_text, route_refunds

BASE = "/mes-demandes/remplacement"
QUEUE = "/admin/replacement_requests/"
DELIVERY = {
    "delivery_name": "Anne MARTIN", "delivery_address": "3 place du Général de Gaulle", "delivery_address_extra": "Bât. B",
    "delivery_postal_code": "59800", "delivery_city": "Lille",
}
BILLING = {"billing_name": "Anne MARTIN", "billing_address": "3 place du Général de Gaulle", "billing_postal_code": "59800",
           "billing_city": "Lille"}


def text(response):
    """Return a page as a person reads it (entities decoded)."""
    return html.unescape(response.get_data(as_text=True))


def plain(page):
    """Return a page's text without its tags, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


@pytest.fixture(autouse=True)
def _fast_pdfs(monkeypatch):
    fast_pdfs(monkeypatch)


@pytest.fixture(autouse=True)
def tariffs(app):
    for product in ("CQC_REMPLACEMENT", "REEXPEDITION"):
        amount = Decimal("28.24") if product == "CQC_REMPLACEMENT" else Decimal("6.50")
        Tariff.create(product=product, amount_ht=amount, vat_rate=Decimal("20"), start_date=dt.date(2023, 9, 1))


@pytest.fixture
def cqc_agent(make_staff):
    return make_staff(procedures=["CQC"])


@pytest.fixture
def driver(make_driver, login_user):
    user = make_driver(state="active", last_name="Martin", first_name="Anne", licence_number="942981379228")
    record(make_centre(), user)
    login_user(user)
    return user


def delivered_card(user, agent):
    """Return the driver's card once ordered by an accepted CQC request, shipped and delivered."""
    dossier = complete_request(user)
    dossiers.take(dossier, agent)
    card = dossiers.accept(dossier, agent)
    cards.move(card, "ship", staff=agent)
    cards.move(Card.get_by_id(card.id), "deliver", staff=agent)
    return Card.get_by_id(card.id)


@pytest.fixture
def card(driver, cqc_agent):
    return delivered_card(driver, cqc_agent)


@pytest.fixture
def staff_client(app):
    """Return a function logging a staff member in on a client of its own."""

    def make(member):
        other = app.test_client()
        response = other.post("/admin/connexion", data={"email": member.email, "password": TEST_PASSWORD})
        assert response.status_code == 302
        return other

    return make


@pytest.fixture
def instructor(make_staff, staff_client):
    """An agent habilitated for the replacement procedures, logged in on its own client."""
    member = make_staff(procedures=["CQC_PERTE", "CQC_VOL", "CQC_QUALITE", "CQC_PND"])
    return staff_client(member)


def step_url(dossier, step):
    return f"{BASE}/{dossier.id}/etapes/{step}"


def choose(client, motif):
    """Choose a motif on « Remplacement, Echange » and return the draft it opens."""
    response = client.post(f"{BASE}/", data={"motif": motif})
    assert response.status_code == 302, text(response)
    dossier = Dossier.select().join(Replacement).order_by(Dossier.id.desc()).first()
    assert response.headers["Location"].endswith(step_url(dossier, "declaration"))
    return dossier


def post_step(client, dossier, step, data, action="suivant"):
    return client.post(step_url(dossier, step), data={**data, "action": action}, content_type="multipart/form-data")


def addresses(client, dossier, **changes):
    response = post_step(client, dossier, "adresses", {**DELIVERY, **BILLING, **changes})
    assert response.status_code == 302, text(response)
    assert response.headers["Location"].endswith(step_url(dossier, "recapitulatif"))


def validate(client, dossier):
    return client.post(step_url(dossier, "recapitulatif"), data={"action": "valider"})


def pending_payment_of(dossier):
    return Payment.select().where(Payment.dossier == dossier.id).order_by(Payment.id.desc()).first()


def notify(payment, status="paid"):
    """Act as the provider: post the signed server-to-server notification of a payment."""
    fields = {"reference": payment.reference, "amount": str(payment.amount_cents), "currency": "EUR", "status": status,
              "transaction": "T1"}
    fields["signature"] = payments.sign(fields)
    return dossiers.settle_payment(fields)


def assert_hosted_page(response, payment):
    """The driver is sent to the provider's hosted page with the signed order of this payment."""
    assert response.status_code == 302
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert location.path == "/bac-a-sable/paiement"
    order = dict(urllib.parse.parse_qsl(location.query))
    assert order["reference"] == payment.reference and order["amount"] == str(payment.amount_cents)


def entry(page, dossier):
    """Return the « Mes demandes en cours » entry of one request."""
    match = re.search(rf'<article class="request[^"]*" id="demande-{dossier.id}">(.*?)</article>', page, re.S)
    assert match, page
    return match.group(1)


def shown_actions(client, dossier):
    page = text(client.get("/mes-demandes/?rubrique=en-cours"))
    return re.findall(r'data-action="(\w+)"', entry(page, dossier))


def admin_page(dossier):
    return f"{QUEUE}demande/{dossier.id}"


def decide(staff, dossier, decision, **form):
    return staff.post(admin_page(dossier), data={"decision": decision, **form})


def assert_reproduced(old, dossier):
    """The new card reproduces the old one identically under a new number; the old one is « remplacée »."""
    new = Card.get(Card.dossier == dossier.id)
    old = Card.get_by_id(old.id)
    assert new.number != old.number and new.state == CardState.EN_FABRICATION
    for name in ("user", "last_name", "first_name", "birth_date", "birth_place", "licence_number", "category",
                 "issued_on", "expires_on"):
        assert getattr(new, name) == getattr(old, name), name
    assert old.state == CardState.REMPLACEE and old.replaced_by_id == new.id
    return new


# --- « Remplacement, Echange » ----------------------------------------------------------------------


def test_mes_demandes_has_the_rubrique_remplacement_echange(client, card):
    page = text(client.get("/mes-demandes/?rubrique=faire"))
    assert f'href="{BASE}/"' in page and "Remplacement, Echange" in page
    page = text(client.get(f"{BASE}/"))
    assert 'aria-current="page">Remplacement, Echange' in page
    assert f"Carte à remplacer : n° {card.number}" in page
    for motif in ("Perte", "Vol", "Qualité"):
        assert f"<strong>{motif}</strong>" in page


def test_without_a_delivered_card_the_replacement_is_refused_with_the_reason(client, driver):
    page = text(client.get(f"{BASE}/"))
    assert "Vous n'avez pas de carte CQC livrée à remplacer." in page and 'name="motif"' not in page
    page = text(client.post(f"{BASE}/", data={"motif": "perte"}))
    assert "Vous n'avez pas de carte CQC livrée à remplacer." in page
    assert Replacement.select().count() == 0


def test_a_motif_must_be_chosen(client, card):
    page = text(client.post(f"{BASE}/", data={}))
    assert "Choisissez le motif de votre demande" in page and Replacement.select().count() == 0


# --- Perte ----------------------------------------------------------------------------------------------


def test_perte_from_the_motif_to_the_new_card(client, driver, card, instructor):
    dossier = choose(client, "perte")
    page = text(client.get(step_url(dossier, "declaration")))
    assert "Étape 1 sur 3" in page and card.number in page
    assert "Je déclare la perte de ma carte et je m'engage à la restituer si je venais à la retrouver" in page
    # Later steps cannot be reached before the earlier ones.
    assert client.get(step_url(dossier, "recapitulatif")).headers["Location"].endswith(step_url(dossier, "declaration"))
    # Without the commitment: refused, and what was typed stays.
    response = post_step(client, dossier, "declaration", {"circumstances": "Perdue au marché de Wazemmes le 2 mai"})
    page = text(response)
    assert response.status_code == 200 and "Cochez la case pour faire votre déclaration" in page
    assert "Perdue au marché de Wazemmes le 2 mai" in page
    response = post_step(client, dossier, "declaration", {"circumstances": "Perdue au marché de Wazemmes le 2 mai",
                                                          "commitment": "y"})
    assert response.headers["Location"].endswith(step_url(dossier, "adresses"))
    # Both addresses come pre-filled from the account; French checks; wrong input keeps what was typed.
    page = text(client.get(step_url(dossier, "adresses")))
    assert "Je vérifie mon adresse de livraison et précise mon adresse de facturation" in page
    assert page.count('value="12 rue des Lilas"') == 2 and page.count('value="59000"') == 2
    response = post_step(client, dossier, "adresses", {**DELIVERY, **BILLING, "delivery_postal_code": "598",
                                                       "billing_city": ""})
    page = text(response)
    assert "Le code postal comporte 5 chiffres." in page and "Ce champ est obligatoire." in page
    assert 'value="598"' in page and 'value="3 place du Général de Gaulle"' in page
    addresses(client, dossier)
    # Any earlier step can be revisited until validated, and keeps what was saved.
    page = text(client.get(step_url(dossier, "declaration")))
    assert "Perdue au marché de Wazemmes le 2 mai" in page and 'checked' in page
    page = text(client.get(step_url(dossier, "recapitulatif")))
    assert "Récapitulatif" in page and "Valider ma demande" in page
    assert "3 place du Général de Gaulle" in page and "59800 Lille" in page and "Bât. B" in page
    assert "33,89\u00a0€ TTC" in page and "28,24\u00a0€ HT" in page

    response = validate(client, dossier)
    payment = pending_payment_of(dossier)
    assert payment.status == PaymentStatus.PENDING and payment.product == "CQC_REMPLACEMENT" and payment.amount_cents == 3389
    assert_hosted_page(response, payment)
    assert Dossier.get_by_id(dossier.id).state == RequestState.BROUILLON  # sent only once paid

    notify(payment)
    dossier = Dossier.get_by_id(dossier.id)
    assert dossier.state == RequestState.ENVOYEE
    invoice = Invoice.get(Invoice.payment == payment.id)
    assert invoice.total_ttc == Decimal("33.89") and "59800 Lille" in invoice.buyer_address
    assert "afficher" in shown_actions(client, dossier)
    page = text(client.get(f"{BASE}/{dossier.id}"))
    assert "Remplacement de CQC pour perte" in page and "Payé" in page

    page = text(instructor.get(admin_page(dossier)))
    assert "Perdue au marché de Wazemmes le 2 mai" in page and card.number in page and "Payé" in page
    assert invoice.display_number in page
    assert decide(instructor, dossier, "take").status_code == 302
    assert decide(instructor, dossier, "accept").status_code == 302
    assert Dossier.get_by_id(dossier.id).state == RequestState.ACCEPTEE
    new = assert_reproduced(card, dossier)
    assert new.delivery_lines.splitlines() == ["Anne MARTIN", "3 place du Général de Gaulle", "Bât. B", "59800 Lille"]
    assert f"Carte de remplacement n° {new.number}" in plain(text(instructor.get(admin_page(dossier))))


def test_an_abandoned_or_refused_payment_leaves_a_draft_that_reprendre_pays_again(client, driver, card):
    dossier = choose(client, "perte")
    post_step(client, dossier, "declaration", {"commitment": "y"})
    addresses(client, dossier)
    validate(client, dossier)
    first = pending_payment_of(dossier)  # abandoned on the provider's page: no notification
    assert shown_actions(client, dossier) == ["reprendre", "annuler"]
    response = client.get(f"{BASE}/{dossier.id}/reprendre")
    assert response.headers["Location"].endswith(step_url(dossier, "recapitulatif"))
    assert "n'a pas abouti" in text(client.get(step_url(dossier, "recapitulatif")))
    # Paying again after an abandon goes back to the same pending payment: it cannot be charged twice.
    assert_hosted_page(validate(client, dossier), first)
    assert Payment.select().count() == 1
    notify(first, "refused")
    assert Dossier.get_by_id(dossier.id).state == RequestState.BROUILLON
    assert shown_actions(client, dossier) == ["reprendre", "annuler"]
    assert "a été refusé" in text(client.get(step_url(dossier, "recapitulatif")))
    response = validate(client, dossier)
    second = pending_payment_of(dossier)
    assert second.id != first.id
    assert_hosted_page(response, second)
    notify(second)
    assert Dossier.get_by_id(dossier.id).state == RequestState.ENVOYEE
    assert Invoice.select().count() == 1


def test_choosing_another_motif_cancels_the_draft_and_the_same_motif_resumes_it(client, card):
    first = choose(client, "perte")
    assert client.post(f"{BASE}/", data={"motif": "perte"}).headers["Location"].endswith(step_url(first, "declaration"))
    second = choose(client, "qualite")
    assert second.id != first.id
    assert Dossier.get_by_id(first.id).state == RequestState.ANNULEE


def test_annuler_a_replacement_draft(client, card):
    dossier = choose(client, "perte")
    response = client.post(f"{BASE}/{dossier.id}/annuler")
    assert response.headers["Location"].endswith("/mes-demandes/?rubrique=en-cours")
    assert Dossier.get_by_id(dossier.id).state == RequestState.ANNULEE
    assert shown_actions(client, dossier) == []


# --- Vol ------------------------------------------------------------------------------------------------


def test_vol_needs_the_theft_declaration_then_goes_to_the_new_card(client, driver, card, instructor):
    dossier = choose(client, "vol")
    page = text(client.get(step_url(dossier, "declaration")))
    assert "Étape 1 sur 4" in page and "Ma déclaration de vol" in page
    assert "Je déclare le vol de ma carte et je m'engage à la restituer si je venais à la retrouver" in page
    post_step(client, dossier, "declaration", {"commitment": "y", "circumstances": "Vol à la portière, Lille"})
    page = text(client.get(step_url(dossier, "declaration_vol")))
    assert "établie par une autorité compétente (Ex : Gendarmerie" in page
    # No file: refused. A file lying about its type: refused. Nothing is kept in either case.
    response = post_step(client, dossier, "declaration_vol", {})
    assert response.status_code == 200 and "Versez la déclaration de vol" in text(response)
    response = post_step(client, dossier, "declaration_vol", {"document": upload(b"MZ\x90\x00 not a pdf", "plainte.pdf")})
    assert response.status_code == 200 and "Format non accepté" in text(response)
    assert Document.select().where(Document.dossier == dossier.id).count() == 0
    # The summary cannot be reached, nor validated, without it.
    assert client.get(step_url(dossier, "adresses")).headers["Location"].endswith(step_url(dossier, "declaration_vol"))
    Replacement.update(step="recapitulatif").where(Replacement.dossier == dossier.id).execute()
    page = text(client.get(step_url(dossier, "recapitulatif")))
    assert re.search(r'value="valider"\s+disabled', page)
    page = text(validate(client, dossier))
    assert "Votre demande est incomplète : la déclaration de vol." in page
    assert Payment.select().count() == 0
    Replacement.update(step="declaration_vol").where(Replacement.dossier == dossier.id).execute()

    response = post_step(client, dossier, "declaration_vol", {"document": upload(PDF, "plainte-gendarmerie.pdf")})
    assert response.headers["Location"].endswith(step_url(dossier, "adresses"))
    addresses(client, dossier)
    page = text(client.get(step_url(dossier, "recapitulatif")))
    assert "plainte-gendarmerie.pdf" in page and "Vol à la portière, Lille" in page
    response = validate(client, dossier)
    payment = pending_payment_of(dossier)
    assert_hosted_page(response, payment)
    notify(payment)
    dossier = Dossier.get_by_id(dossier.id)
    assert dossier.state == RequestState.ENVOYEE and Invoice.select().where(Invoice.payment == payment.id).exists()

    # Staff see the theft declaration in the page, through a scoped route.
    page = text(instructor.get(admin_page(dossier)))
    document = Document.get(Document.dossier == dossier.id)
    assert f'src="{QUEUE}document/{document.id}"' in page and "Vol à la portière, Lille" in page
    shown = instructor.get(f"{QUEUE}document/{document.id}")
    assert shown.status_code == 200 and shown.data == PDF and shown.mimetype == "application/pdf"
    decide(instructor, dossier, "take")
    decide(instructor, dossier, "accept")
    assert_reproduced(card, dossier)


def test_staff_refuse_a_replacement_with_a_reason(client, card, instructor):
    dossier = choose(client, "perte")
    post_step(client, dossier, "declaration", {"commitment": "y"})
    addresses(client, dossier)
    validate(client, dossier)
    notify(pending_payment_of(dossier))
    decide(instructor, dossier, "take")
    page = text(decide(instructor, dossier, "reject", reject_reason="  "))
    assert "Indiquez le motif du refus" in page
    decide(instructor, dossier, "reject", reject_reason="Carte déjà remplacée par courrier")
    assert Dossier.get_by_id(dossier.id).state == RequestState.REFUSEE
    # The holder's declaration stands: the card is still missing, and may be asked for again.
    assert Card.get_by_id(card.id).state == CardState.DECLAREE_PERDUE


# --- A card declared lost or stolen (issue 12) ------------------------------------------------------------


def validated_declaration(client, motif, circumstances=""):
    """Fill in and validate a loss or theft replacement through the pages; return the file, its payment pending."""
    dossier = choose(client, motif)
    post_step(client, dossier, "declaration", {"commitment": "y", "circumstances": circumstances})
    if motif == "vol":
        post_step(client, dossier, "declaration_vol", {"document": upload(PDF, "plainte.pdf")})
    addresses(client, dossier)
    validate(client, dossier)
    return dossier


def card_block(page, card):
    match = re.search(rf'<article class="card-item[^"]*" id="carte-{card.id}">(.*?)</article>', page, re.S)
    assert match, page
    return plain(match.group(1))


@pytest.mark.parametrize("motif, state, label, said", [
    ("perte", CardState.DECLAREE_PERDUE, "Déclarée perdue", "Perte déclarée par le titulaire"),
    ("vol", CardState.DECLAREE_VOLEE, "Déclarée volée", "Vol déclaré par le titulaire"),
])
def test_sending_a_loss_or_theft_declares_the_card_at_once(client, driver, card, instructor, make_staff, staff_client,
                                                           motif, state, label, said):
    cards.move(card, "activate", user=driver, comment="Carte activée par le titulaire")
    dossier = validated_declaration(client, motif, circumstances="Oubliée dans un café à Arras")
    # Validated but not paid: still a draft, the card is untouched.
    assert Card.get_by_id(card.id).state == CardState.ACTIVEE
    assert "Carte activée" in card_block(text(client.get("/mes-cartes/")), card)

    notify(pending_payment_of(dossier))
    assert Dossier.get_by_id(dossier.id).state == RequestState.ENVOYEE
    assert Card.get_by_id(card.id).state == state
    step = CardEvent.select().where(CardEvent.card == card.id).order_by(CardEvent.id.desc()).first()
    assert (step.from_state, step.to_state, step.user_id, step.staff_id) == (CardState.ACTIVEE, state, driver.id, None)
    assert step.comment == f"{said} (demande de remplacement n° {dossier.id}). Circonstances : Oubliée dans un café à Arras"

    # « Mes cartes »: the state, what it means, and the history (who, when, why).
    block = card_block(text(client.get("/mes-cartes/")), card)
    assert f"État : {label}" in block and "Carte activée" not in block.split("Historique de la carte")[0]
    assert "elle n'est plus valable et ne peut plus être utilisée" in block
    history = block.split("Historique de la carte")[1]
    assert f"{label} – par Anne MARTIN {said}" in history and step.at.strftime("%d/%m/%Y") in history
    assert "Carte activée – par Anne MARTIN" in history and "Carte expédiée – par IN Groupe" in history

    # The back office's card page says so too, with the same history line.
    agent = staff_client(make_staff(procedures=["CQC"]))
    page = plain(text(agent.get(f"/admin/cards_admin/carte/{card.id}")))
    assert label in page and said in page

    # Accepted: the declared card is replaced.
    decide(instructor, dossier, "take")
    decide(instructor, dossier, "accept")
    assert_reproduced(card, dossier)


def test_an_unpaid_or_cancelled_declaration_leaves_the_card_usable(client, card):
    dossier = validated_declaration(client, "perte")
    notify(pending_payment_of(dossier), "refused")
    assert Card.get_by_id(card.id).state == CardState.LIVREE
    client.post(f"{BASE}/{dossier.id}/annuler")
    assert Dossier.get_by_id(dossier.id).state == RequestState.ANNULEE
    assert Card.get_by_id(card.id).state == CardState.LIVREE
    assert not CardEvent.select().where(CardEvent.card == card.id, CardEvent.event.startswith("declare")).exists()


def test_a_declared_card_can_no_longer_be_used(client, driver, card, instructor):
    dossier = sent_loss(client)
    assert Card.get_by_id(card.id).state == CardState.DECLAREE_PERDUE
    # Not activated, nor replaced for a defect; a second request waits for the first one.
    client.post(f"/mes-cartes/{card.id}/activer")
    assert Card.get_by_id(card.id).state == CardState.DECLAREE_PERDUE
    assert "Activer ma carte" not in card_block(text(client.get("/mes-cartes/")), card)
    assert "déjà en cours" in text(client.post(f"{BASE}/", data={"motif": "qualite"}))
    # Refused, the file leaves the card declared: a new request for theft declares it stolen; a defect is refused.
    decide(instructor, dossier, "take")
    decide(instructor, dossier, "reject", reject_reason="Justificatif illisible")
    page = text(client.get(f"{BASE}/"))
    assert f"Carte à remplacer : n° {card.number}" in page and "Déclarée perdue" in page
    assert 'value="qualite"' not in page and 'value="perte"' in page and 'value="vol"' in page
    page = text(client.post(f"{BASE}/", data={"motif": "qualite"}))
    assert f"Votre carte n° {card.number} est déclarée perdue : elle ne peut plus être utilisée." in page
    stolen = validated_declaration(client, "vol")
    notify(pending_payment_of(stolen))
    assert Card.get_by_id(card.id).state == CardState.DECLAREE_VOLEE
    assert [e.to_state for e in CardEvent.select().where(CardEvent.card == card.id).order_by(CardEvent.id)][-2:] == [
        CardState.DECLAREE_PERDUE, CardState.DECLAREE_VOLEE]


def test_a_second_loss_after_a_refused_one_keeps_the_first_declaration(client, card, instructor):
    first = sent_loss(client)
    decide(instructor, first, "take")
    decide(instructor, first, "reject", reject_reason="Justificatif illisible")
    second = sent_loss(client)
    assert Dossier.get_by_id(second.id).state == RequestState.ENVOYEE
    declarations = CardEvent.select().where(CardEvent.card == card.id, CardEvent.event == "declare_lost")
    assert [e.comment for e in declarations] == [f"Perte déclarée par le titulaire (demande de remplacement n° {first.id})"]
    decide(instructor, second, "take")
    decide(instructor, second, "accept")
    assert_reproduced(card, second)


# --- Qualité --------------------------------------------------------------------------------------------


def quality_request(client, defects=("Photo", "Dates de validité")):
    """Fill in and validate a quality replacement through the pages; return the file and the confirmation page."""
    dossier = choose(client, "qualite")
    response = post_step(client, dossier, "declaration", {"defects": list(defects), "circumstances": "La photo est floue"})
    assert response.status_code == 302, text(response)
    addresses(client, dossier)
    response = validate(client, dossier)
    assert response.headers["Location"].endswith(f"{BASE}/{dossier.id}/envoyee")
    return Dossier.get_by_id(dossier.id), text(client.get(response.headers["Location"]))


def test_qualite_declares_defects_and_gives_the_return_coupon(client, driver, card):
    dossier = choose(client, "qualite")
    page = text(client.get(step_url(dossier, "declaration")))
    for defect in ("Photo", "Nom ou prénom", "Signature"):
        assert f'value="{defect}"' in page
    response = post_step(client, dossier, "declaration", {"circumstances": "La photo est floue"})
    page = text(response)
    assert "Cochez au moins un élément en défaut." in page and "La photo est floue" in page
    dossier, page = quality_request(client)
    assert dossier.state == RequestState.ENVOYEE and Payment.select().count() == 0
    assert "coupon retour" in page.lower() and "59128 Flers-en-Escrebieux" in page
    assert set(shown_actions(client, dossier)) == {"afficher", "coupon"}

    response = client.get(f"{BASE}/{dossier.id}/coupon-retour.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    coupon = pdf_text(response.data)
    for expected in ("Coupon retour", "IN Groupe – Service Qualité CQC", "Rue des Frères Beaumont",
                     "59128 Flers-en-Escrebieux", f"Demande n° {dossier.id}", "MARTIN ANNE", card.number, "942981379228",
                     "Photo", "Dates de validité", "La photo est floue",
                     "À joindre à votre carte et à envoyer par voie postale"):
        assert expected in coupon, expected


def test_qualite_imputed_to_in_groupe_is_replaced_free(client, card, instructor):
    dossier, _ = quality_request(client)
    page = text(instructor.get(admin_page(dossier)))
    assert "Photo" in page and "Dates de validité" in page and "pas encore reçue" in page
    assert 'value="receive"' in page and 'value="decide"' not in page
    # No decision before the card is received.
    page = text(decide(instructor, dossier, "decide", fault="ingroupe"))
    assert "n'est pas possible" in page and Dossier.get_by_id(dossier.id).state == RequestState.ENVOYEE
    decide(instructor, dossier, "receive")
    assert Replacement.get(Replacement.dossier == dossier.id).received_at is not None
    page = text(instructor.get(admin_page(dossier)))
    assert 'value="decide"' in page and "Erreur imputée à IN Groupe" in page
    assert "IN Groupe a réceptionné votre carte" in text(client.get(f"{BASE}/{dossier.id}"))
    page = text(decide(instructor, dossier, "decide", fault=""))
    assert "Indiquez à qui l'erreur est imputée." in page
    decide(instructor, dossier, "decide", fault="ingroupe")
    assert Dossier.get_by_id(dossier.id).state == RequestState.ACCEPTEE
    assert_reproduced(card, dossier)
    assert Payment.select().count() == 0 and Invoice.select().count() == 0


def test_qualite_imputed_to_the_driver_is_paid_from_repondre(client, card, instructor):
    dossier, _ = quality_request(client)
    decide(instructor, dossier, "receive")
    decide(instructor, dossier, "decide", fault="conducteur", comment="La photo fournie était floue.")
    dossier = Dossier.get_by_id(dossier.id)
    assert dossier.state == RequestState.ATTENTE_COMPLEMENT
    assert Anomaly.get(Anomaly.dossier == dossier.id).field == "paiement"
    assert shown_actions(client, dossier) == ["afficher", "repondre", "detail"]
    page = text(client.get(f"{BASE}/{dossier.id}/repondre"))
    assert "La photo fournie était floue." in page and "Erreur imputée au conducteur" in page
    assert "Payer le remplacement" in page and "33,89\u00a0€ TTC" in page
    response = client.post(f"{BASE}/{dossier.id}/repondre")
    payment = pending_payment_of(dossier)
    assert_hosted_page(response, payment)
    assert payment.product == "CQC_REMPLACEMENT" and payment.status == PaymentStatus.PENDING
    notify(payment)
    dossier = Dossier.get_by_id(dossier.id)
    assert dossier.state == RequestState.EN_INSTRUCTION
    assert Invoice.select().where(Invoice.payment == payment.id).exists()
    assert Anomaly.get(Anomaly.dossier == dossier.id).corrected_at is not None
    page = text(instructor.get(admin_page(dossier)))
    assert 'value="accept"' in page and 'value="decide"' not in page
    decide(instructor, dossier, "accept")
    assert Dossier.get_by_id(dossier.id).state == RequestState.ACCEPTEE
    assert_reproduced(card, dossier)


# --- Access ---------------------------------------------------------------------------------------------


def test_another_driver_gets_404_on_these_pages(app, client, card, make_driver, instructor):
    dossier, _ = quality_request(client)
    decide(instructor, dossier, "receive")
    decide(instructor, dossier, "decide", fault="conducteur")
    other = make_driver(state="active")
    intruder = app.test_client()
    intruder.post("/connexion", data={"email": other.email, "password": TEST_PASSWORD})
    for url in (f"{BASE}/{dossier.id}", f"{BASE}/{dossier.id}/coupon-retour.pdf", f"{BASE}/{dossier.id}/repondre",
                f"{BASE}/{dossier.id}/reprendre", f"{BASE}/{dossier.id}/envoyee", step_url(dossier, "declaration")):
        assert intruder.get(url).status_code == 404, url
    assert intruder.post(f"{BASE}/{dossier.id}/repondre").status_code == 404
    assert intruder.post(f"{BASE}/{dossier.id}/annuler").status_code == 404
    assert Payment.select().count() == 0
    # The owner still reaches them.
    assert client.get(f"{BASE}/{dossier.id}/coupon-retour.pdf").status_code == 200


def test_another_driver_cannot_see_a_theft_declaration(app, client, card, make_driver):
    dossier = choose(client, "vol")
    post_step(client, dossier, "declaration", {"commitment": "y"})
    post_step(client, dossier, "declaration_vol", {"document": upload(JPEG, "plainte.jpg")})
    document = Document.get(Document.dossier == dossier.id)
    assert client.get(f"/mes-demandes/{dossier.id}/documents/{document.id}").status_code == 200
    other = make_driver(state="active")
    intruder = app.test_client()
    intruder.post("/connexion", data={"email": other.email, "password": TEST_PASSWORD})
    assert intruder.get(f"/mes-demandes/{dossier.id}/documents/{document.id}").status_code == 404
    assert intruder.get(step_url(dossier, "declaration_vol")).status_code == 404


def sent_loss(client):
    dossier = choose(client, "perte")
    post_step(client, dossier, "declaration", {"commitment": "y"})
    addresses(client, dossier)
    validate(client, dossier)
    notify(pending_payment_of(dossier))
    return Dossier.get_by_id(dossier.id)


def test_an_agent_without_the_habilitation_does_not_see_the_entries(client, card, make_staff, staff_client):
    dossier = sent_loss(client)
    cqc_only = staff_client(make_staff(procedures=["CQC"]))
    page = text(cqc_only.get(QUEUE))
    assert f'href="{admin_page(dossier)}"' not in page
    assert cqc_only.get(admin_page(dossier)).status_code == 404
    assert decide(cqc_only, dossier, "take").status_code == 404
    quality_only = staff_client(make_staff(procedures=["CQC_QUALITE"]))
    assert f'href="{admin_page(dossier)}"' not in text(quality_only.get(QUEUE))
    loss = staff_client(make_staff(procedures=["CQC_PERTE"]))
    assert f'href="{admin_page(dossier)}"' in text(loss.get(QUEUE))
    assert decide(loss, dossier, "take").status_code == 302
    assert Dossier.get_by_id(dossier.id).state == RequestState.EN_INSTRUCTION


def test_a_local_admin_sees_everything_but_processes_only_with_the_role(client, card, make_staff, staff_client):
    dossier = sent_loss(client)
    admin = staff_client(make_staff(role=StaffRole.LOCAL_ADMIN))
    page = text(admin.get(admin_page(dossier)))
    assert "Vous pouvez consulter ce dossier mais pas le traiter" in page and 'value="take"' not in page
    assert decide(admin, dossier, "take").status_code == 403
    processing = staff_client(make_staff(role=StaffRole.LOCAL_ADMIN, manages_files=True))
    assert decide(processing, dossier, "take").status_code == 302


def test_the_queue_hides_drafts_by_default_and_filters_by_state_and_motif(client, card, instructor):
    draft = choose(client, "perte")
    page = text(instructor.get(QUEUE))
    assert f'href="{admin_page(draft)}"' not in page
    assert "Perte" in page and "Qualité" in page and "Réexpédition" in page
    brouillon = re.search(r'href="([^"]+)"[^>]*>Brouillon', page).group(1)
    page = text(instructor.get(html.unescape(brouillon)))
    assert f'href="{admin_page(draft)}"' in page
    quality = re.search(r'href="([^"]+)"[^>]*>Qualité', text(instructor.get(html.unescape(brouillon)))).group(1)
    assert f'href="{admin_page(draft)}"' not in text(instructor.get(html.unescape(quality)))
    client.post(f"{BASE}/{draft.id}/annuler")
    sent = sent_loss(client)
    page = text(instructor.get(QUEUE + "?search=" + sent.user.email))
    assert f'href="{admin_page(sent)}"' in page and card.number in page


# --- « pli non distribué », Solution 2 -------------------------------------------------------------------


@pytest.fixture
def returned_card(driver, cqc_agent):
    """The driver's card, shipped then returned by La Poste (« pli non distribué »)."""
    dossier = complete_request(driver)
    dossiers.take(dossier, cqc_agent)
    card = dossiers.accept(dossier, cqc_agent)
    cards.move(card, "ship", staff=cqc_agent)
    cards.move(Card.get_by_id(card.id), "return", staff=cqc_agent)
    return Card.get_by_id(card.id)


NEW_ADDRESS = {"delivery_name": "Anne MARTIN", "delivery_address": "8 rue Nationale", "delivery_address_extra": "Apt 4",
               "delivery_postal_code": "59000", "delivery_city": "Lille"}


def test_pnd_solution_2_pays_the_fee_and_sends_the_card_to_the_new_address(app, client, returned_card, instructor):
    url = f"/mes-cartes/{returned_card.id}/pli-non-distribue"
    page = text(client.get(url))
    assert "Solution 2" in page and "Mon adresse est incorrecte" in page and "7,80\u00a0€ TTC" in page
    response = client.post(url, data={"solution": "2", **NEW_ADDRESS, "delivery_postal_code": "59"})
    page = text(response)
    assert response.status_code == 200 and "Le code postal comporte 5 chiffres." in page and 'value="8 rue Nationale"' in page
    assert Payment.select().count() == 0
    response = client.post(url, data={"solution": "2", **NEW_ADDRESS})
    payment = Payment.get()
    assert_hosted_page(response, payment)
    assert payment.product == "REEXPEDITION" and payment.amount_cents == 780
    dossier = payment.dossier
    assert dossier.procedure.code == "CQC_PND" and dossier.state == RequestState.BROUILLON
    assert Card.get_by_id(returned_card.id).state == CardState.PND
    # Abandoned: « Reprendre » leads back to the card's page, where the new address is kept.
    assert shown_actions(client, dossier)[0] == "reprendre"
    assert client.get(f"{BASE}/{dossier.id}/reprendre").headers["Location"].endswith(url)
    assert 'value="8 rue Nationale"' in text(client.get(url))

    notify(payment)
    card = Card.get_by_id(returned_card.id)
    assert card.state == CardState.EXPEDIEE
    assert card.delivery_lines.splitlines() == ["Anne MARTIN", "8 rue Nationale", "Apt 4", "59000 Lille"]
    invoice = Invoice.get(Invoice.payment == payment.id)
    assert invoice.total_ttc == Decimal("7.80")
    assert Dossier.get_by_id(dossier.id).state == RequestState.ACCEPTEE
    assert "8 rue Nationale" in text(instructor.get(admin_page(dossier)))
    assert Procedure.get(Procedure.code == "CQC_PND") == dossier.procedure


def test_pnd_solution_2_is_only_for_the_holder_of_a_returned_card(app, client, returned_card, make_driver):
    other = make_driver(state="active")
    intruder = app.test_client()
    intruder.post("/connexion", data={"email": other.email, "password": TEST_PASSWORD})
    url = f"/mes-cartes/{returned_card.id}/pli-non-distribue"
    assert intruder.get(url).status_code == 404
    assert intruder.post(url, data={"solution": "2", **NEW_ADDRESS}).status_code == 404
    assert Payment.select().count() == 0


def test_solution_1_after_an_unpaid_solution_2_cancels_it(client, returned_card):
    url = f"/mes-cartes/{returned_card.id}/pli-non-distribue"
    client.post(url, data={"solution": "2", **NEW_ADDRESS})
    draft = Payment.get().dossier
    page = text(client.get(url))
    assert f"demande n° {draft.id}" in page and 'value="8 rue Nationale"' in page
    client.post(url)
    assert Card.get_by_id(returned_card.id).state == CardState.EXPEDIEE
    assert Dossier.get_by_id(draft.id).state == RequestState.ANNULEE


@pytest.fixture
def refunds(app, monkeypatch):
    return route_refunds(monkeypatch, app.test_client())


def assert_refunded(payment, refunds):
    """The payment went back to the card through the provider, its invoice cancelled by a credit note, all in the log."""
    payment = Payment.get_by_id(payment.id)
    assert payment.status == PaymentStatus.REFUNDED and [a["refund"] for a in refunds] == [payment.refund_reference]
    invoice = Invoice.get(Invoice.payment == payment.id)
    note = Invoice.get(Invoice.credits == invoice.id)
    assert note.total_ttc == -invoice.total_ttc == Decimal("-7.80")
    actions = [entry.action for entry in AuditLog.select()]
    assert "Paiement reçu pour une demande qui ne l'attendait plus : remboursé avec un avoir" in actions
    assert "Paiement remboursé" in actions


def test_a_re_dispatch_paid_after_solution_1_is_refunded_with_a_credit_note(client, returned_card, refunds):
    url = f"/mes-cartes/{returned_card.id}/pli-non-distribue"
    client.post(url, data={"solution": "2", **NEW_ADDRESS})
    payment = Payment.get()
    client.post(url)  # Solution 1 meanwhile: the card leaves again for the same address, the re-dispatch is cancelled
    notify(payment)  # … and then the provider confirms the fee paid on its page
    assert Dossier.get_by_id(payment.dossier_id).state == RequestState.ANNULEE
    card = Card.get_by_id(returned_card.id)
    assert card.state == CardState.EXPEDIEE and "8 rue Nationale" not in (card.delivery_lines or "")
    assert_refunded(payment, refunds)


def test_a_re_dispatch_paid_while_solution_1_is_chosen_is_refunded_and_changes_nothing(client, returned_card, refunds):
    client.post(f"/mes-cartes/{returned_card.id}/pli-non-distribue", data={"solution": "2", **NEW_ADDRESS})
    payment = Payment.get()
    # The notification arrives between Solution 1's two steps: the card left again, its draft not cancelled yet.
    cards.confirm_address(Card.get_by_id(returned_card.id), payment.user)
    events = [(e.event, e.to_state) for e in CardEvent.select().order_by(CardEvent.id)]
    notify(payment)
    assert Dossier.get_by_id(payment.dossier_id).state == RequestState.BROUILLON  # the re-dispatch's moves rolled back
    assert [(e.event, e.to_state) for e in CardEvent.select().order_by(CardEvent.id)] == events
    assert "8 rue Nationale" not in (Card.get_by_id(returned_card.id).delivery_lines or "")
    assert_refunded(payment, refunds)


def test_the_pnd_re_dispatch_tells_the_truth(client, returned_card):
    from models import Notification

    client.post(f"/mes-cartes/{returned_card.id}/pli-non-distribue", data={"solution": "2", **NEW_ADDRESS})
    notify(Payment.get())
    messages = [n.message for n in Notification.select()]
    assert any("est acceptée : votre carte est réexpédiée" in m for m in messages)
    assert any(f"Votre carte n° {returned_card.number} a été expédiée" in m for m in messages)
    assert not any("en fabrication" in m and "Réexpédition" in m for m in messages)


def test_the_replacement_card_shows_the_original_photo_and_links_to_its_file(client, card, instructor, make_staff,
                                                                              staff_client):
    dossier = sent_loss(client)
    decide(instructor, dossier, "take")
    decide(instructor, dossier, "accept")
    new = Card.get(Card.dossier == dossier.id)
    photo = uploads.current_document(card.dossier_id, "photo")
    page = text(client.get("/mes-cartes/"))
    block = re.search(rf'<article class="card-item[^"]*" id="carte-{new.id}">(.*?)</article>', page, re.S).group(1)
    assert f'src="/mes-demandes/{card.dossier_id}/documents/{photo.id}"' in block
    agent = staff_client(make_staff(procedures=["CQC", "CQC_PERTE"]))
    assert f'href="{admin_page(dossier)}"' in text(agent.get(f"/admin/cards_admin/carte/{new.id}"))
    assert f'href="{admin_page(dossier)}"' in text(agent.get("/admin/cards_admin/"))
