"""« Remplacements »: the queue of replacements (loss, theft, defect) and re-dispatches; the quality decision."""
from decimal import Decimal

from flask import request
from flask_login import current_user

from admin_views.dossiers import DossierQueue, ProcedureFilter
from models import Card, Dossier, Payment, Procedure, ProcedureCode, Replacement, RequestState, User
from services import procedures, transitions
from services.formatting import money
from services.procedures import replacements

#: The reason each procedure of this queue stands for: loss, theft, defect, and the paid re-dispatch.
REASONS = {code: replacements.REASON_LABELS[reason] for reason, code in replacements.CODES.items()}
REASONS[ProcedureCode.CQC_PND] = "Réexpédition (pli non distribué)"


def _payment(view, context, dossier, name):
    """The last payment of a file (read for the whole page by ReplacementRequestView.get_list)."""
    last = dossier.last_payment
    if last is None:
        return "—" if procedures.of(dossier).product else "Gratuit"
    return f"{last.status_label} ({money(Decimal(last.amount_cents) / 100)})"


class ReasonFilter(ProcedureFilter):
    all_label = "Tous les motifs"


class ReplacementRequestView(DossierQueue):
    """The replacement files of the procedures this staff member may see, oldest sent first."""

    codes = tuple(REASONS)
    data_template = "admin/replacements/_replacement.html"
    own_decisions_template = "admin/replacements/_quality.html"
    card_label = "Carte de remplacement"
    intro = ("Remplacements de CQC (perte, vol, défaut de qualité) et réexpéditions à une nouvelle adresse, du plus ancien "
             "au plus récent (date d'envoi ou de réponse du titulaire). Par défaut, les brouillons et les demandes annulées "
             "ne sont pas affichés.")
    all_label = "Tous (hors brouillons et annulés)"
    own_decisions = ("receive", "decide")
    taken_message = "Le dossier est pris en instruction."
    read_only_notice = "Vous pouvez consulter ce dossier mais pas le traiter"
    typed_fields = {"reject_reason": "", "fault": "", "comment": ""}
    column_list = ("submitted_at", "id", "holder", "email", "reason", "card", "state", "payment", "waiting")
    column_labels = {**DossierQueue.column_labels, "reason": "Motif", "card": "Carte concernée", "payment": "Paiement"}
    search_hint = "Nom, adresse électronique ou n° de carte"
    procedure_filter = ReasonFilter(Dossier.procedure, "Motif", options=list(REASONS.items()))
    column_filters = [DossierQueue.state_filter, procedure_filter]
    column_formatters = {
        **DossierQueue.column_formatters,
        "reason": lambda v, c, d, n: REASONS.get(d.procedure.code, d.procedure.name),
        "card": lambda v, c, d, n: d.replacement_row.old_card.number,
        "payment": _payment,
    }

    def scoped_query(self):
        return (
            Dossier.visible_to(current_user)
            .select_extend(User, Replacement, Card)
            .switch(Dossier)
            .join(User)
            .switch(Dossier)
            .join(Replacement, on=(Replacement.dossier == Dossier.id), attr="replacement_row")
            .join(Card, on=(Replacement.card == Card.id), attr="old_card")
            .where(Dossier.procedure.in_(Procedure.ids_of(self.codes)))
        )

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        count, rows = super().get_list(page, sort_column, sort_desc, search, filters, execute, page_size)
        return count, self.prepare_rows(list(rows)) if execute else rows

    def prepare_rows(self, rows):
        """Give each file of the rows its last payment, in one query."""
        last = {p.dossier_id: p for p in Payment.select().where(Payment.dossier.in_([d.id for d in rows])).order_by(Payment.id)}
        for dossier in rows:
            dossier.last_payment = last.get(dossier.id)
        return rows

    def search_clause(self, term):
        like = f"%{term}%"
        clause = (User.last_name ** like) | (User.first_name ** like) | (User.email ** like) | (Card.number ** like)
        return clause | (Dossier.id == int(term)) if term.isdigit() else clause

    # --- The file page -----------------------------------------------------------------------------------

    def decisions(self, dossier):
        """Return the decisions the file's reason and state allow on this page."""
        data = dossier.replacement_row
        code = dossier.procedure.code
        if code == ProcedureCode.CQC_PND:
            return []  # re-dispatched automatically once the fee is paid
        allowed = set(transitions.allowed_events(dossier))
        shown = ["take"] if "take" in allowed else []
        if code != ProcedureCode.CQC_QUALITE:
            return shown + [event for event in ("accept", "reject") if event in allowed]
        if dossier.state in (RequestState.ENVOYEE, RequestState.EN_INSTRUCTION):
            shown.append("receive" if data.received_at is None else ("decide" if not data.fault else None))
        # The driver's fault: accepted once the driver has paid (the file came back to instruction).
        if "accept" in allowed and data.fault == "conducteur":
            shown.append("accept")
        if "reject" in allowed:
            shown.append("reject")
        return [decision for decision in shown if decision]

    def accepted_message(self, dossier, card):
        return (f"Demande acceptée : la carte de remplacement n° {card.number} est commandée (en fabrication), "
                f"identique à la carte n° {dossier.replacement_row.old_card.number}, désormais remplacée.")

    def decide_own(self, dossier, decision, staff, typed):
        """Quality: record the card's reception, then whose fault the defect is."""
        if decision == "receive":
            replacements.record_reception(dossier, staff)
            return "La réception de la carte retournée est enregistrée : vous pouvez rendre la décision."
        typed["fault"] = request.form.get("fault", "")
        typed["comment"] = request.form.get("comment", "")
        card = replacements.decide_quality(dossier, staff, typed["fault"], typed["comment"])
        if card is not None:
            return f"Erreur imputée à IN Groupe : la carte est remplacée gratuitement (carte n° {card.number} commandée)."
        return "Erreur imputée au conducteur : il est notifié et doit régler le remplacement."

    def accept_note(self, dossier, data):
        return (f"Une carte identique (titulaire et validité) est commandée sous un nouveau numéro ; "
                f"la carte n° {data.card.number} devient « remplacée ».")

    def page_extras(self, dossier, data):
        return {
            "reason_label": REASONS.get(dossier.procedure.code, dossier.procedure.name),
            "old_card": data.card,
            "faults": replacements.FAULTS,
        }
