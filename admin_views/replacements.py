"""« Remplacements »: the queue of replacements (loss, theft, defect) and re-dispatches, and the page where staff decide."""
from decimal import Decimal
from urllib.parse import urlencode

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_login import current_user
from peewee import fn

from admin_views.requests import HIDDEN_BY_DEFAULT, STATE_BADGES, RequestQueue
from models import (
    STATE_LABELS,
    Card,
    Document,
    Dossier,
    DossierEvent,
    Payment,
    PaymentStatus,
    DocumentKind,
    Procedure,
    ProcedureCode,
    Replacement,
    ReplacementReason,
    RequestState,
    User,
)
from services import audit, dossiers, transitions, uploads
from services.errors import Refused
from services.formatting import money
from services.procedures import replacements

#: The procedures of this queue: the three motifs and the paid re-dispatch of an undelivered card.
PROCEDURES = (*replacements.CODES.values(), ProcedureCode.CQC_PND)
#: The motif each procedure stands for in the list.
MOTIFS = {code: replacements.REASON_LABELS[reason] for reason, code in replacements.CODES.items()}
MOTIFS[ProcedureCode.CQC_PND] = "Réexpédition (pli non distribué)"


def _payment(view, context, dossier, name):
    last = Payment.select().where(Payment.dossier == dossier.id).order_by(Payment.id.desc()).first()
    if last is None:
        return "Gratuit" if dossier.procedure.code == ProcedureCode.CQC_QUALITE else "—"
    return f"{last.status_label} ({money(Decimal(last.amount_cents) / 100)})"


class MotifFilter(FilterEqual):
    """The motif of a file, chosen by procedure code (the list query already joins Procedure)."""

    def apply(self, query, value, alias=None):
        return query.where(Procedure.code == value)


class ReplacementRequestView(RequestQueue):
    """The replacement files of the procedures this staff member may see, oldest sent first."""

    show_template = "admin/replacements/show.html"
    typed_fields = {"reject_reason": "", "fault": "", "comment": ""}
    intro = ("Remplacements de CQC (perte, vol, défaut de qualité) et réexpéditions à une nouvelle adresse, du plus ancien "
             "au plus récent (date d'envoi ou de réponse du titulaire). Par défaut, les brouillons et les demandes annulées "
             "ne sont pas affichés.")
    column_list = ("submitted_at", "id", "holder", "email", "motif", "card", "state", "payment", "waiting")
    column_labels = {**RequestQueue.column_labels, "motif": "Motif", "card": "Carte concernée", "payment": "Paiement"}
    search_hint = "Nom, adresse électronique ou n° de carte"
    motif_filter = MotifFilter(Dossier.procedure, "Motif", options=list(MOTIFS.items()))
    column_filters = [RequestQueue.state_filter, motif_filter]
    column_formatters = {
        **RequestQueue.column_formatters,
        "motif": lambda v, c, d, n: MOTIFS.get(d.procedure.code, d.procedure.name),
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
            .where(Procedure.code.in_(PROCEDURES))
        )

    def search_clause(self, term):
        like = f"%{term}%"
        clause = (User.last_name ** like) | (User.first_name ** like) | (User.email ** like) | (Card.number ** like)
        return clause | (Dossier.id == int(term)) if term.isdigit() else clause

    def _filter_key(self, flt):
        return next(k for k, (_, f) in self._filter_args.items() if f is flt)

    def _chosen(self, flt):
        key = self._filter_key(flt)
        return next((v for k, v in request.args.items() if k.startswith("flt") and k.endswith(f"_{key}")), None)

    def _url(self, state, motif):
        args = {}
        if state is not None:
            args[f"flt0_{self._filter_key(self.state_filter)}"] = state
        if motif is not None:
            args[f"flt1_{self._filter_key(self.motif_filter)}"] = motif
        return url_for(".index_view") + ("?" + urlencode(args) if args else "")

    def state_links(self):
        """Return (label, url, count, active) for the quick state choices above the list (the motif chosen kept)."""
        state, motif = self._chosen(self.state_filter), self._chosen(self.motif_filter)
        query = self.scoped_query()
        if motif:
            query = query.where(Procedure.code == motif)
        counts = dict(query.select(Dossier.state, fn.COUNT(Dossier.id)).group_by(Dossier.state).tuples())
        links = [("Tous (hors brouillons et annulés)", self._url(None, motif),
                  sum(n for s, n in counts.items() if s not in HIDDEN_BY_DEFAULT), state is None)]
        for value in RequestState:
            links.append((STATE_LABELS[value], self._url(value.value, motif), counts.get(value, 0), state == value))
        return links

    def motif_links(self):
        """Return (label, url, active) for the motif choices (the state chosen kept)."""
        state, motif = self._chosen(self.state_filter), self._chosen(self.motif_filter)
        links = [("Tous les motifs", self._url(state, None), motif is None)]
        links += [(label, self._url(state, code), motif == code) for code, label in MOTIFS.items()]
        return links

    # --- The request page -------------------------------------------------------------------------

    def decisions(self, dossier):
        """Return the decisions the file's motif and state allow on this page."""
        data = dossier.replacement_row
        code = dossier.procedure.code
        if code == ProcedureCode.CQC_PND:
            return []  # re-dispatched automatically once the fee is paid
        state = dossier.state
        allowed = set(transitions.allowed_events(dossier))
        shown = []
        if "take" in allowed:
            shown.append("take")
        if code == ProcedureCode.CQC_QUALITE:
            if state in (RequestState.ENVOYEE, RequestState.EN_INSTRUCTION):
                if data.received_at is None:
                    shown.append("receive")
                elif not data.fault:
                    shown.append("decide")
            # The driver's fault: accepted once the driver has paid (the file came back to instruction).
            if "accept" in allowed and data.fault == "conducteur":
                shown.append("accept")
            if "reject" in allowed:
                shown.append("reject")
        else:
            shown += [event for event in ("accept", "reject") if event in allowed]
        return shown

    def _decide(self, dossier, decision, typed, errors):
        """Apply one decision through the services; return a redirect, or None with the errors set."""
        staff = current_user._get_current_object()
        here = redirect(url_for(".show", dossier_id=dossier.id))
        if decision not in self.decisions(dossier):
            errors.append("Cette action n'est pas possible sur ce dossier dans son état actuel : rechargez la page.")
            return None
        try:
            if decision == "take":
                dossiers.take(dossier, staff)
                audit.record("Remplacement pris en instruction", f"dossier {dossier.id}")
                flash("Le dossier est pris en instruction.", "success")
            elif decision == "accept":
                card = dossiers.accept(dossier, staff)
                audit.record("Remplacement accepté", f"dossier {dossier.id}", f"carte {card.number}")
                flash(f"Demande acceptée : la carte de remplacement n° {card.number} est commandée (en fabrication), "
                      f"identique à la carte n° {dossier.replacement_row.old_card.number}, désormais remplacée.", "success")
            elif decision == "reject":
                typed["reject_reason"] = request.form.get("reject_reason", "")
                dossiers.reject(dossier, staff, typed["reject_reason"])
                audit.record("Remplacement refusé", f"dossier {dossier.id}", typed["reject_reason"].strip())
                flash("La demande est refusée : le titulaire est prévenu du motif.", "success")
            elif decision == "receive":
                replacements.record_reception(dossier, staff)
                flash("La réception de la carte retournée est enregistrée : vous pouvez rendre la décision.", "success")
            elif decision == "decide":
                typed["fault"] = request.form.get("fault", "")
                typed["comment"] = request.form.get("comment", "")
                card = replacements.decide_quality(dossier, staff, typed["fault"], typed["comment"])
                audit.record("Décision qualité", f"dossier {dossier.id}", replacements.FAULTS.get(typed["fault"], ""))
                if card is not None:
                    flash(f"Erreur imputée à IN Groupe : la carte est remplacée gratuitement (carte n° {card.number} commandée).",
                          "success")
                else:
                    flash("Erreur imputée au conducteur : il est notifié et doit régler le remplacement.", "success")
            return here
        except Refused as error:
            errors.append(str(error))
            return None

    def _page(self, dossier, can_process, typed, errors):
        data = dossier.replacement_row
        user = dossier.user
        documents = list(dossier.documents.order_by(Document.uploaded_at.desc(), Document.id.desc()))
        payments = list(Payment.select().where(Payment.dossier == dossier.id).order_by(Payment.id))
        return {
            "dossier": dossier,
            "data": data,
            "user": user,
            "driver": user.driver,
            "motif": MOTIFS.get(dossier.procedure.code, dossier.procedure.name),
            "reason": data.reason,
            "old_card": data.old_card,
            "new_card": Card.select().where(Card.dossier == dossier).order_by(Card.id.desc()).first(),
            "defects": data.defect_list,
            "theft_declaration": uploads.current_document(dossier, DocumentKind.THEFT_DECLARATION),
            "previous": [d for d in documents if d.replaced_at is not None],
            "payments": payments,
            "invoices": {p.id: p.invoices.first() for p in payments if p.status == PaymentStatus.PAID},
            "paid": any(p.status == PaymentStatus.PAID for p in payments),
            "history": list(dossier.history.order_by(DossierEvent.at, DossierEvent.id)),
            "anomalies": list(dossier.anomalies.order_by(dossier.anomalies.model.id)),
            "faults": replacements.FAULTS,
            "badge": STATE_BADGES.get(dossier.state, "secondary"),
            "decisions": self.decisions(dossier) if can_process else [],
            "can_process": can_process,
            "typed": typed,
            "errors": errors,
            "is_quality": data.reason == ReplacementReason.QUALITE,
        }
