"""« Cartes tachygraphe »: the tachograph driver and company card requests of transport companies."""
from flask_login import current_user
from markupsafe import Markup, escape
from peewee import JOIN

from admin_views.dossiers import DossierQueue, ProcedureFilter, organisation_column
from models import (
    PROCEDURES, Card, CompanyDriver, Dossier, Organisation, Procedure, ProcedureCode, TachographRequest, User,
)
from services.procedures.tachographs import valid_driver_card

#: The procedures this queue serves, by the name staff read.
KINDS = {code: name for code, name in PROCEDURES if code in (ProcedureCode.TACHY_CONDUCTEUR, ProcedureCode.TACHY_ENTREPRISE)}


class KindFilter(ProcedureFilter):
    all_label = "Toutes les cartes"


def _for_whom(view, context, dossier, name):
    request = dossier.tachograph_row
    driver = request.driver_row
    if driver is not None and driver.id:
        return Markup(f"{escape(driver.last_name.upper())} {escape(driver.first_name)}<br>"
                      f"<small class=\"text-muted\">{escape(request.reason_label)}</small>")
    return f"{request.card_count} carte(s) entreprise"


class TachographQueue(DossierQueue):
    """The tachograph card requests of the procedures this staff member may see, oldest sent first."""

    codes = tuple(KINDS)
    data_template = "admin/tachographs/_request.html"
    file_title = None
    card_label = "Carte tachygraphe"
    intro = ("Demandes de cartes tachygraphe des entreprises de transport, de la plus ancienne à la plus récente (date "
             "d'envoi ou de réponse du gestionnaire). Par défaut, les brouillons et les demandes annulées ne sont pas "
             "affichés.")
    column_list = ("submitted_at", "id", "company", "kind", "for_whom", "holder", "state", "waiting")
    column_labels = {**DossierQueue.column_labels, "company": "Entreprise", "kind": "Carte", "for_whom": "Pour",
                     "holder": "Demande faite par"}
    search_hint = "Entreprise, SIRET, conducteur ou n° de permis"
    procedure_filter = KindFilter(Dossier.procedure, "Carte", options=list(KINDS.items()))
    column_filters = [DossierQueue.state_filter, procedure_filter]
    column_formatters = {
        **DossierQueue.column_formatters,
        "company": organisation_column,
        "kind": lambda v, c, d, n: KINDS[d.procedure.code],
        "for_whom": _for_whom,
    }

    def scoped_query(self):
        return (
            Dossier.visible_to(current_user)
            .select_extend(User, Organisation, TachographRequest, CompanyDriver)
            .switch(Dossier).join(User)
            .switch(Dossier).join(Organisation, on=(Dossier.organisation == Organisation.id))
            .switch(Dossier).join(TachographRequest, on=(TachographRequest.dossier == Dossier.id), attr="tachograph_row")
            .join(CompanyDriver, JOIN.LEFT_OUTER, on=(TachographRequest.company_driver == CompanyDriver.id),
                  attr="driver_row")
            .where(Dossier.procedure.in_(Procedure.ids_of(self.codes)))
        )

    def search_clause(self, term):
        like = f"%{term}%"
        compact = term.replace(" ", "")
        clause = ((Organisation.name ** like) | (Organisation.siret ** f"%{compact}%") | (CompanyDriver.last_name ** like)
                  | (CompanyDriver.licence_number ** f"%{compact.upper()}%"))
        return clause | (Dossier.id == int(term)) if term.isdigit() else clause

    def accepted_message(self, dossier, card):
        count = Card.select().where(Card.dossier == dossier.id).count()
        return (f"Demande acceptée : {count} carte(s) commandée(s) (en fabrication), dont la n° {card.number}, valable "
                f"jusqu'au {card.expires_on:%d/%m/%Y}. Le gestionnaire est prévenu.")

    def accept_note(self, dossier, data):
        if data.company_driver_id:
            return ("La carte conducteur est commandée (en fabrication) à l'identité du conducteur ci-dessus, pour 5 ans "
                    "(un remplacement garde la date de fin de la carte remplacée, qui devient « remplacée »).")
        return f"Les {data.card_count} carte(s) entreprise sont commandées (en fabrication), pour 5 ans."

    def page_extras(self, dossier, data):
        driver = data.company_driver
        current = valid_driver_card(driver.licence_number, driver.birth_date) if driver else None
        return {"request": data, "company_driver": driver, "current_card": current,
                "ordered": list(Card.select().where(Card.dossier == dossier.id).order_by(Card.id))}
