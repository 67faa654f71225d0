"""CQC: a new card after a training that gives the right to one, billed to the training centre."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired

from models import (
    CARD_TRAININGS, REQUEST_FIELDS, Certificate, CqcRequest, DocumentKind, Dossier, ProcedureCode, Product, RequestState,
    Training, clock,
)
from services import cards, storage
from services import fields as f
from services.errors import Refused
from services.procedures.base import Declaration, Step

#: States in which a request still holds its training.
LIVE = [s for s in RequestState if s not in (RequestState.ANNULEE, RequestState.REFUSEE)]


class IdentityForm(FlaskForm):
    identity_confirmed = BooleanField(
        "Je certifie l'exactitude de ces informations",
        [DataRequired(message="Cochez la case pour certifier l'exactitude de ces informations.")],
    )


class UploadForm(FlaskForm):
    document = FileField("Fichier")


class AddressForm(f.Form):
    delivery_name = StringField(REQUEST_FIELDS["delivery_name"], [f.required(), f.max_length(120)], filters=[f.strip])
    delivery_address = StringField(REQUEST_FIELDS["delivery_address"], [f.required(), f.max_length(200)], filters=[f.strip])
    delivery_address_extra = StringField(REQUEST_FIELDS["delivery_address_extra"], [f.max_length(200)], filters=[f.strip])
    delivery_postal_code = StringField(REQUEST_FIELDS["delivery_postal_code"], [f.required(), f.postal_code], filters=[f.strip])
    delivery_city = StringField(REQUEST_FIELDS["delivery_city"], [f.required(), f.max_length(120)], filters=[f.strip])


STEPS = (
    Step("identite", "Vérification de mon identité", "identite", form=IdentityForm),
    Step("photo", "Ma photo", "upload", document=DocumentKind.PHOTO, accepts=storage.IMAGES,
         hint="Photo d'identité récente, en couleur, de face, tête nue, sur fond uni et clair."),
    Step("signature", "Ma signature", "upload", document=DocumentKind.SIGNATURE, accepts=storage.IMAGES,
         hint="Votre signature à l'encre noire sur une feuille blanche, numérisée ou photographiée de près."),
    Step("piece_identite", "Ma pièce d'identité", "upload", document=DocumentKind.IDENTITY,
         hint="Carte nationale d'identité (recto et verso) ou passeport en cours de validité."),
    Step("adresse", "Mon adresse de livraison", "adresse", form=AddressForm),
    Step("recapitulatif", "Récapitulatif", "recapitulatif"),
)


def used_trainings():
    """Return the trainings already taken by a live request."""
    return CqcRequest.select(CqcRequest.training).join(Dossier).where(Dossier.state.in_(LIVE))


def eligible_training(user):
    """Return the training that gives this driver the right to a new CQC, or raise Refused saying why not."""
    trainings = Training.select().where(Training.user == user, Training.kind.in_(CARD_TRAININGS))
    if not trainings.exists():
        raise Refused(
            "Aucune formation vous donnant droit à une nouvelle carte CQC n'est enregistrée sur votre compte : "
            "votre centre de formation doit d'abord déclarer votre formation (FIMO, FCO ou Passerelle)."
        )
    free = trainings.where(Training.id.not_in(used_trainings()))
    if not free.exists():
        raise Refused("Votre dernière formation fait déjà l'objet d'une demande de carte CQC : suivez-la dans « Mes demandes en cours ».")
    valid = (
        free.join(Certificate, on=(Certificate.training == Training.id))
        .where(Certificate.expires_on >= clock.today())
        .order_by(Training.end_date.desc())
        .first()
    )
    if valid is None:
        raise Refused(
            "Le délai de 4 mois pour demander votre CQC après votre formation est dépassé (certificat de qualification expiré) : "
            "contactez votre centre de formation."
        )
    return valid


def prepare(user):
    """Return the driver's CQC draft if one is started, else the data of a new one (refused when not eligible)."""
    draft = (
        Dossier.select().join(CqcRequest).switch(Dossier)
        .where(Dossier.user == user, Dossier.state == RequestState.BROUILLON)
        .first()
    )
    if draft is not None:
        return draft, {}
    training = eligible_training(user)
    driver = user.driver
    return None, dict(
        training=training, delivery_name=user.full_name, delivery_address=driver.address,
        delivery_address_extra=driver.address_extra, delivery_postal_code=driver.postal_code, delivery_city=driver.city,
    )


def missing(dossier, request):
    """Return the labels of the steps the request still lacks before it can be sent."""
    lacking = [] if request.identity_confirmed else [STEPS[0].label]
    lacking += DECLARATION.lacking_documents(dossier)
    if not (request.delivery_address and request.delivery_postal_code and request.delivery_city):
        lacking.append(DECLARATION.step("adresse").label)
    return lacking


DECLARATION = Declaration(
    code=ProcedureCode.CQC,
    data_model=CqcRequest,
    steps=STEPS,
    pages="requests",
    summary_template="public/requests/_summary.html",
    title="Carte de qualification de conducteur (CQC)",
    invoiced=Product.CQC,
    askable_fields=REQUEST_FIELDS,
    kept_on_cancel=("dossier", "training", "step"),
    prepare=prepare,
    missing=missing,
    on_accept=lambda dossier, staff: cards.order(dossier, staff),
    opening=lambda data: f"Formation {data['training'].title}",
    summary_context=lambda dossier, request: {"training": request.training},
)
