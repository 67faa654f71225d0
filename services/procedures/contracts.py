"""An organisation's contract with IN Groupe: a company's TACHY contract, a centre's CQC contract.

An administrator subscribes it in « Mon Contrat » (legal representative, billing, conditions); staff
habilitated for the procedure give it its number within 24 hours, which accepts the file.
"""
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired

from models import ADMIN_ROLES, CONTRACT_FIELDS, Contract, ProcedureCode, RequestState, SireneEstablishment
from services import fields as f
from services.errors import Refused
from services.procedures.base import Declaration, Step

class RepresentativeForm(f.Form):
    legal_last_name = StringField("Nom", [f.required(), f.max_length(80)], filters=[f.strip])
    legal_first_name = StringField("Prénom", [f.required(), f.max_length(120)], filters=[f.strip])
    legal_function = StringField("Qualité", [f.required(), f.max_length(120)], filters=[f.strip])


class BillingForm(f.Form):
    billing_name = StringField("Raison sociale", [f.required(), f.max_length(120)], filters=[f.strip])
    billing_address = StringField("Adresse", [f.required(), f.max_length(200)], filters=[f.strip])
    billing_address_extra = StringField("Complément d'adresse", [f.max_length(200)], filters=[f.strip])
    billing_postal_code = StringField("Code postal", [f.required(), f.postal_code], filters=[f.strip])
    billing_city = StringField("Commune", [f.required(), f.max_length(120)], filters=[f.strip])
    contact_name = StringField("Nom et prénom du contact", [f.required(), f.max_length(120)], filters=[f.strip])
    contact_email = StringField("Adresse électronique du contact", [f.required(), f.email_address, f.max_length(254)],
                                filters=[f.strip])
    contact_phone = StringField("Téléphone du contact", [f.required(), f.phone_number], filters=[f.strip])


class ConditionsForm(FlaskForm):
    conditions_accepted = BooleanField(
        "J'ai lu et j'accepte les conditions du contrat",
        [DataRequired(message="Cochez la case pour accepter les conditions du contrat.")],
    )


STEPS = (
    Step("representant", "Représentant légal", "contrat_representant", form=RepresentativeForm,
         hint="La personne qui engage l'établissement (gérant, président, directeur…)."),
    Step("facturation", "Facturation", "contrat_facturation", form=BillingForm,
         hint="Où IN Groupe adresse la facture mensuelle des cartes émises, et qui contacter à son sujet."),
    Step("conditions", "Conditions du contrat", "contrat_conditions", form=ConditionsForm),
    Step("recapitulatif", "Récapitulatif", "recapitulatif"),
)


def prepare(user, code):
    """Return the organisation's contract draft, else the data of a new one; refused while one is under way."""
    organisation = user.organisation
    current = organisation.contract()
    if current is not None and current.state == RequestState.BROUILLON:
        return current, {}
    if current is not None:
        raise Refused("Votre établissement a déjà souscrit son contrat : il est présenté dans « Mon Contrat ».")
    if organisation.principal_id is not None:
        raise Refused(f"Votre établissement est rattaché au contrat de {organisation.principal.name} : "
                      "ses CQC sont facturées à cet établissement principal.")
    place = SireneEstablishment.get_or_none(SireneEstablishment.siret == organisation.siret)
    return None, dict(
        billing_name=organisation.name, billing_address=place.address if place else "",
        billing_postal_code=place.postal_code if place else "", billing_city=place.city if place else "",
        contact_name=user.full_name, contact_email=user.email, contact_phone=user.phone,
    )


#: What each step must hold before the contract can be sent.
REQUIRED = {
    "representant": ("legal_last_name", "legal_first_name", "legal_function"),
    "facturation": ("billing_name", "billing_address", "billing_postal_code", "billing_city",
                    "contact_name", "contact_email", "contact_phone"),
    "conditions": ("conditions_accepted",),
}


def missing(dossier, contract):
    """Return the labels of the steps the contract still lacks before it can be sent."""
    return [step.label for step in STEPS if not all(getattr(contract, name) for name in REQUIRED.get(step.name, ()))]


def _declaration(code, product_name, title):
    return Declaration(
        code=code,
        data_model=Contract,
        steps=STEPS,
        pages="contract",
        summary_template="public/contract/_summary.html",
        title=title,
        submitted_by=ADMIN_ROLES,
        askable_fields=CONTRACT_FIELDS,
        prepare=lambda user: prepare(user, code),
        missing=missing,
        opening=lambda data: f"Souscription du {product_name}",
        submitting=f"{product_name[0].upper()}{product_name[1:]} souscrit par l'administrateur",
    )


TACHY = _declaration(ProcedureCode.CONTRAT_TACHY, "contrat TACHY", "Contrat TACHY")
CQC = _declaration(ProcedureCode.CONTRAT_CQC, "contrat CQC", "Contrat CQC")
DECLARATIONS = (TACHY, CQC)
