"""Tachograph cards a transport company orders under its TACHY contract: a driver's card, the company's cards.

A manager (or an administrator) makes the request in the company's name; the cards are invoiced
monthly on the contract, at the price frozen when the request is sent. A driver may hold only one
valid driver card: a new one is refused while his is valid, except a renewal in its last 3 months
or a replacement (lost, stolen, defective).
"""
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField
from wtforms.validators import DataRequired, NumberRange

from models import (
    DECLARED_MISSING, ORG_ROLES, REQUEST_FIELDS, TACHY_FIELDS, TACHY_REASON_LABELS, TACHY_REPLACEMENTS, Card, CardKind, CardState,
    CompanyDriver, DocumentKind, Dossier, OrgKind, Procedure, ProcedureCode, Product, RequestState, TachographRequest,
    Tariff, TachyReason, clock, deadlines,
)
from services import cards, storage
from services.errors import Refused
from services.procedures.base import Declaration, Step
from services.procedures.cqc import AddressForm

#: The states of a card its holder still has (a returned one comes back to him; one declared lost or stolen is his
#: until replaced, but serves only for its replacement).
HELD = (CardState.EN_FABRICATION, CardState.EXPEDIEE, CardState.LIVREE, CardState.ACTIVEE, CardState.PND,
        *DECLARED_MISSING)
#: The reasons that declare the card missing when the request is sent.
MISSING_REASONS = {TachyReason.PERTE: False, TachyReason.VOL: True}
#: The states of a request still under way.
UNDER_WAY = (RequestState.ENVOYEE, RequestState.EN_INSTRUCTION, RequestState.ATTENTE_COMPLEMENT)
NO_CONTRACT = ("Les demandes de cartes tachygraphe s'ouvrent dès que votre contrat TACHY a son numéro "
               "(« Mon Contrat »).")


class DriverIdentityForm(FlaskForm):
    identity_confirmed = BooleanField(
        "Je certifie que ces informations sont celles du permis de conduire du conducteur",
        [DataRequired(message="Cochez la case pour certifier les informations du conducteur.")],
    )


class CardCountForm(FlaskForm):
    card_count = IntegerField(
        "Nombre de cartes entreprise",
        [DataRequired(message="Indiquez le nombre de cartes (de 1 à 20)."),
         NumberRange(min=1, max=20, message="Indiquez le nombre de cartes (de 1 à 20).")],
    )


def _upload(name, label, kind, accepts=storage.ANY_DOCUMENT, hint=""):
    return Step(name, label, "upload", document=kind, accepts=accepts, hint=hint)


DRIVER_STEPS = (
    Step("conducteur", "Le conducteur", "tachy_conducteur", form=DriverIdentityForm),
    _upload("photo", "Photo d'identité", DocumentKind.PHOTO, storage.IMAGES,
            "Photo d'identité récente du conducteur, en couleur, de face, tête nue, sur fond uni et clair."),
    _upload("signature", "Signature", DocumentKind.SIGNATURE, storage.IMAGES,
            "La signature du conducteur à l'encre noire sur une feuille blanche, numérisée ou photographiée de près."),
    _upload("permis_recto", "Permis de conduire (recto)", DocumentKind.LICENCE_FRONT),
    _upload("permis_verso", "Permis de conduire (verso)", DocumentKind.LICENCE_BACK),
    _upload("piece_identite", "Pièce d'identité", DocumentKind.IDENTITY,
            hint="Carte nationale d'identité (recto et verso) ou passeport du conducteur, en cours de validité."),
    _upload("residence", "Résidence normale en France", DocumentKind.RESIDENCE,
            hint="La déclaration datée et signée par le conducteur attestant qu'il a sa résidence normale en France "
                 "(au moins 185 jours par année civile)."),
    Step("adresse", "Adresse d'expédition", "tachy_adresse", form=AddressForm),
    Step("recapitulatif", "Récapitulatif", "recapitulatif"),
)

COMPANY_STEPS = (
    Step("cartes", "Les cartes", "tachy_cartes", form=CardCountForm),
    _upload("kbis", "Kbis ou avis de situation INSEE", DocumentKind.KBIS,
            hint="Extrait Kbis de moins de 3 mois, ou avis de situation au répertoire Sirene de l'INSEE."),
    _upload("representant", "Pièce d'identité du représentant légal", DocumentKind.REPRESENTATIVE_ID,
            hint="Carte nationale d'identité (recto et verso) ou passeport du représentant légal, en cours de validité."),
    Step("adresse", "Adresse d'expédition", "tachy_adresse", form=AddressForm),
    Step("recapitulatif", "Récapitulatif", "recapitulatif"),
)


# --- The one-valid-driver-card rule ----------------------------------------------------------------


def valid_driver_card(licence_number, birth_date):
    """Return the driver card this driver holds and is still valid (one per driver), or None."""
    return (
        Card.select()
        .where(Card.kind == CardKind.TACHY_CONDUCTEUR, Card.licence_number == licence_number,
               Card.birth_date == birth_date, Card.state.in_(HELD), Card.expires_on >= clock.today())
        .order_by(Card.expires_on.desc())
        .first()
    )


def check_driver_card(driver, reason):
    """Return the driver's valid card (the one renewed or replaced), or raise Refused saying why the request cannot be."""
    # One driver, one card: a request under way for him, by any company, comes first.
    under_way = (
        Dossier.select().join(Procedure).switch(Dossier).join(TachographRequest)
        .join(CompanyDriver, on=(TachographRequest.company_driver == CompanyDriver.id))
        .where(Procedure.code == ProcedureCode.TACHY_CONDUCTEUR, Dossier.state.in_(UNDER_WAY),
               CompanyDriver.licence_number == driver.licence_number, CompanyDriver.birth_date == driver.birth_date)
        .first()
    )
    if under_way is not None:
        raise Refused(f"Une demande de carte conducteur est déjà en cours pour {driver.full_name} "
                      f"(demande n° {under_way.id}) : suivez-la dans « Mes demandes en cours ».")
    current = valid_driver_card(driver.licence_number, driver.birth_date)
    if current is not None and current.state in DECLARED_MISSING and reason not in MISSING_REASONS:
        raise Refused(f"La carte conducteur n° {current.number} de {driver.full_name} est "
                      f"{current.state_label.lower()} : elle ne peut plus être utilisée. Demandez son remplacement "
                      "pour perte ou pour vol.")
    if reason == TachyReason.PREMIERE and current is not None:
        raise Refused(
            f"{driver.full_name} détient déjà une carte conducteur valide (n° {current.number}, valable jusqu'au "
            f"{current.expires_on:%d/%m/%Y}) : un conducteur ne peut détenir qu'une seule carte conducteur en cours de "
            "validité. Demandez son renouvellement dans ses 3 derniers mois, ou son remplacement si elle est perdue, "
            "volée ou défectueuse.")
    if reason == TachyReason.RENOUVELLEMENT and current is not None:
        opens = deadlines.renewal_opens_on(current.expires_on)
        if clock.today() < opens:
            raise Refused(f"La carte conducteur n° {current.number} de {driver.full_name} est valable jusqu'au "
                          f"{current.expires_on:%d/%m/%Y} : son renouvellement peut être demandé à partir du "
                          f"{opens:%d/%m/%Y}.")
    if reason in TACHY_REPLACEMENTS:
        if current is None:
            raise Refused(f"{driver.full_name} n'a pas de carte conducteur en cours de validité à remplacer : "
                          "faites une première demande.")
        if current.state not in (CardState.LIVREE, CardState.ACTIVEE, *DECLARED_MISSING):
            raise Refused(f"La carte n° {current.number} n'a pas encore été livrée ({current.state_label}) : "
                          "elle ne peut pas être remplacée.")
    return current


# --- Opening a request --------------------------------------------------------------------------------


def _company_of(user):
    organisation = user.organisation
    if organisation is None or organisation.kind != OrgKind.COMPANY:
        raise Refused("Les cartes tachygraphe sont demandées par les entreprises de transport.")
    contract = organisation.contract_in_force()
    if contract is None:
        raise Refused(NO_CONTRACT)
    return organisation, contract


def _delivery(organisation, contract):
    return dict(delivery_name=organisation.name, delivery_address=contract.billing_address,
                delivery_address_extra=contract.billing_address_extra,
                delivery_postal_code=contract.billing_postal_code, delivery_city=contract.billing_city)


def _draft(organisation, code, **data):
    return (
        Dossier.select().join(TachographRequest).switch(Dossier).join(Procedure)
        .where(Dossier.organisation == organisation, Dossier.state == RequestState.BROUILLON, Procedure.code == code,
               *[getattr(TachographRequest, name) == value for name, value in data.items()])
        .first()
    )


def prepare_driver_card(user, company_driver, reason):
    """Return the company's draft for this driver (with this reason), else a new one's data; refused per the rule."""
    organisation, contract = _company_of(user)
    if company_driver.organisation_id != organisation.id:
        raise Refused("Ce conducteur n'est pas dans « Mes Conducteurs ».")
    current = check_driver_card(company_driver, TachyReason(reason))
    previous = current if reason != TachyReason.PREMIERE else None
    draft = _draft(organisation, ProcedureCode.TACHY_CONDUCTEUR, company_driver=company_driver.id)
    if draft is not None:
        TachographRequest.update(reason=reason, previous_card=previous).where(
            TachographRequest.dossier == draft.id).execute()
        return draft, {}
    return None, dict(company_driver=company_driver, reason=reason, previous_card=previous,
                      **_delivery(organisation, contract))


def declare_card(dossier, user):
    """Mark the driver card « Déclarée perdue » or « Déclarée volée » when its loss or theft replacement is sent.

    As for a CQC (services/procedures/replacements.declare_card), sending is when the declaration becomes final.
    """
    request = TachographRequest.get_or_none(TachographRequest.dossier == dossier)
    if request is None or request.reason not in MISSING_REASONS or request.previous_card is None:
        return None
    stolen = MISSING_REASONS[TachyReason(request.reason)]
    comment = (f"{'Vol déclaré' if stolen else 'Perte déclarée'} par {user.full_name} pour "
               f"{dossier.organisation.name} (demande de remplacement n° {dossier.id})")
    return cards.declare_missing(request.previous_card, stolen, user=user, comment=comment)


def prepare_company_card(user):
    """Return the company's draft of company cards, else a new one's data (refused without a numbered contract)."""
    organisation, contract = _company_of(user)
    draft = _draft(organisation, ProcedureCode.TACHY_ENTREPRISE)
    if draft is not None:
        return draft, {}
    return None, dict(step="cartes", **_delivery(organisation, contract))


def _price(product):
    """What the summary says the card will cost: the price frozen when sent, else the one in force today."""
    def summary_context(dossier, request):
        if dossier.price_ht is not None:
            return {"unit_price": dossier.price_ht}
        tariff = Tariff.in_force(product, clock.today())
        return {"unit_price": tariff.amount_ht if tariff else None}

    return summary_context


def _missing(first_done):
    """Return the `missing` hook: the first step until done, the documents, the address."""
    def missing(dossier, request):
        declaration = next(d for d in DECLARATIONS if d.code == dossier.procedure.code)
        lacking = [] if first_done(request) else [declaration.steps[0].label]
        lacking += declaration.lacking_documents(dossier)
        if not (request.delivery_address and request.delivery_postal_code and request.delivery_city):
            lacking.append("Adresse d'expédition")
        return lacking

    return missing


def _declaration(code, product, steps, **own):
    """A tachograph procedure: what the two share, and what is its own."""
    return Declaration(
        code=code, data_model=TachographRequest, steps=steps, pages="tachographs",
        summary_template="public/tachographs/_summary.html", invoiced=product, submitted_by=ORG_ROLES,
        on_accept=lambda dossier, staff: cards.order_tachographs(dossier, staff), summary_context=_price(product),
        submitting="Demande envoyée par le gestionnaire", **own,
    )


DECLARATIONS = (
    _declaration(
        ProcedureCode.TACHY_CONDUCTEUR, Product.TACHY_CONDUCTEUR, DRIVER_STEPS,
        title="Carte tachygraphe conducteur",
        askable_fields=REQUEST_FIELDS,
        kept_on_cancel=("dossier", "step", "company_driver", "reason", "previous_card"),
        prepare=prepare_driver_card,
        missing=_missing(lambda request: request.identity_confirmed),
        opening=lambda data: f"{TACHY_REASON_LABELS[data['reason']]} pour {data['company_driver'].full_name}",
        on_submit=declare_card,
    ),
    _declaration(
        ProcedureCode.TACHY_ENTREPRISE, Product.TACHY_ENTREPRISE, COMPANY_STEPS,
        title="Carte tachygraphe entreprise",
        askable_fields={**REQUEST_FIELDS, **TACHY_FIELDS},
        prepare=prepare_company_card,
        missing=_missing(lambda request: request.card_count and request.card_count >= 1),
        opening=lambda data: "Cartes tachygraphe entreprise",
    ),
)
