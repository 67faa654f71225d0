"""« Cartes »: the cards of the files staff may see (CQC, tachograph); ship them, declare them delivered or returned."""
from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_admin.helpers import get_redirect_target
from flask_login import current_user
from markupsafe import Markup, escape

from admin_views.base import StaffModelView, day
from models import CARD_KIND_LABELS, STATE_LABELS, Card, CardEvent, CardKind, CardState, Dossier, Procedure, ProcedureCode
from services import audit, cards, transitions

#: Acting on a card is processing the files of the procedure that makes its kind (a replaced CQC is still a CQC).
PROCEDURES = {CardKind.CQC: ProcedureCode.CQC, CardKind.TACHY_CONDUCTEUR: ProcedureCode.TACHY_CONDUCTEUR,
              CardKind.TACHY_ENTREPRISE: ProcedureCode.TACHY_ENTREPRISE}
#: The back-office queue of each procedure that orders cards.
QUEUES = {ProcedureCode.CQC: "cqc_requests", ProcedureCode.TACHY_CONDUCTEUR: "tachograph_requests",
          ProcedureCode.TACHY_ENTREPRISE: "tachograph_requests"}


def can_move(card):
    """May the logged-in staff member ship, deliver or return this card?"""
    return current_user.can_process(PROCEDURES[CardKind(card.kind)])
#: The moves staff make here, with the words of the buttons and of the reports.
MOVES = {
    "ship": ("Expédier", "expédiée(s)", "Carte expédiée par IN Groupe"),
    "deliver": ("Déclarer livrée", "déclarée(s) livrée(s)", "Livraison constatée"),
    "return": ("Déclarer en pli non distribué", "déclarée(s) en pli non distribué", "Retour de La Poste : pli non distribué"),
}
#: At most so many refusals are listed one by one after a bulk move.
MAX_REPORTED = 20


def _number(view, context, card, name):
    return Markup(f'<a href="{url_for(".card", card_id=card.id)}">{escape(card.number)}</a>')


def request_url(card):
    """Return the back-office page of the request that ordered the card: a CQC request or a replacement."""
    if not card.dossier_id:
        return None
    queue = QUEUES.get(card.dossier.procedure.code, "replacement_requests")
    return url_for(f"{queue}.show", dossier_id=card.dossier_id)


def _request(view, context, card, name):
    if not card.dossier_id:
        return ""
    return Markup(f'<a href="{request_url(card)}">n° {card.dossier_id}</a>')


def _row_moves(view, context, card, name):
    """Render one small form per move the card's state allows, for staff who may process."""
    if not can_move(card):
        return ""
    token = escape(context.resolve("csrf_token")())
    here = escape(request.full_path)
    buttons = []
    for event in transitions.allowed_events(card):
        if event not in MOVES:
            continue
        url = url_for(".move", card_id=card.id, event=event)
        buttons.append(
            f'<form method="post" action="{url}" class="d-inline">'
            f'<input type="hidden" name="csrf_token" value="{token}"><input type="hidden" name="url" value="{here}">'
            f'<button class="btn btn-outline-primary btn-sm mr-1 mb-1" type="submit">{MOVES[event][0]}</button></form>'
        )
    return Markup("".join(buttons))


class CardView(StaffModelView):
    """The cards of the files this staff member may see, newest first."""

    can_create = False
    can_edit = False
    simple_list_pager = True
    column_display_actions = False
    list_template = "admin/cards/list.html"
    column_list = ("number", "holder", "category", "state", "issued_on", "expires_on", "request", "moves")
    column_labels = {
        "number": "N° de carte",
        "holder": "Titulaire",
        "category": "Catégorie",
        "state": "Statut",
        "issued_on": "Délivrée le",
        "expires_on": "Valable jusqu'au",
        "request": "Demande",
        "moves": "Actions",
    }
    column_sortable_list = ("number", "issued_on", "expires_on")
    column_default_sort = ("id", True)
    column_searchable_list = (Card.number,)
    search_hint = "N° de carte, nom ou prénom"
    column_filters = [
        FilterEqual(Card.state, "Statut", options=[(state.value, STATE_LABELS[state]) for state in CardState]),
        FilterEqual(Card.kind, "Carte", options=[(kind.value, label) for kind, label in CARD_KIND_LABELS.items()]),
    ]
    column_formatters = {
        "number": _number,
        "holder": lambda v, c, card, n: card.holder_name,
        "category": lambda v, c, card, n: card.category if card.kind == CardKind.CQC else card.kind_label,
        "state": lambda v, c, card, n: card.state_label,
        "issued_on": day("issued_on"),
        "expires_on": day("expires_on"),
        "request": _request,
        "moves": _row_moves,
    }

    def scoped_query(self):
        # The file and its procedure come with each card: its link and who may move it, no query per line.
        visible = Dossier.visible_to(current_user).select(Dossier.id)
        return Card.select(Card, Dossier, Procedure).join(Dossier).join(Procedure).where(Card.dossier.in_(visible))

    def search_clause(self, term):
        like = f"%{term}%"
        return (Card.number ** like) | (Card.last_name ** like) | (Card.first_name ** like)

    def is_action_allowed(self, name):
        return any(current_user.can_process(code) for code in PROCEDURES.values()) and super().is_action_allowed(name)

    def apply(self, selected, event):
        """Move each card on its own: report the refused ones with the reason, let the others proceed."""
        label, done, comment = MOVES[event]
        staff = current_user._get_current_object()
        moved, refused = [], []
        for card in selected:
            if not can_move(card):
                refused.append(f"n° {card.number} : vous n'êtes pas habilité(e) à la démarche de cette carte.")
                continue
            try:
                cards.move(card, event, staff=staff, comment=comment)
            except transitions.TransitionError as error:
                refused.append(f"n° {card.number} : {error}")
            else:
                moved.append(card.number)
                audit.record(f"Carte {done.replace('(s)', '')}", card.number)
        if moved:
            flash(f"{len(moved)} carte(s) {done} : n° {', '.join(moved)}.", "success")
        if refused:
            flash(f"{len(refused)} carte(s) refusée(s) pour « {label} » :", "error")
            for line in refused[:MAX_REPORTED]:
                flash(line, "error")
            if len(refused) > MAX_REPORTED:
                flash(f"… et {len(refused) - MAX_REPORTED} autre(s).", "error")
        return moved, refused

    def _selected(self, ids):
        numbers = [int(i) for i in ids if str(i).isdigit()]
        return list(self.scoped_query().where(Card.id.in_(numbers or [0])).order_by(Card.id))

    @expose("/action/", methods=("POST",))
    def action_view(self):
        """Apply a bulk move to the selected cards (each needs the right to process its procedure)."""
        if not self.is_action_allowed("ship"):
            abort(403)
        return super().action_view()

    @action("ship", "Expédier", "Expédier les cartes sélectionnées ?")
    def action_ship(self, ids):
        self.apply(self._selected(ids), "ship")

    @action("deliver", "Déclarer livrée", "Déclarer livrées les cartes sélectionnées ?")
    def action_deliver(self, ids):
        self.apply(self._selected(ids), "deliver")

    @action("return", "Déclarer en pli non distribué", "Déclarer en pli non distribué les cartes sélectionnées ?")
    def action_return(self, ids):
        self.apply(self._selected(ids), "return")

    @expose("/carte/<int:card_id>/<event>", methods=["POST"])
    def move(self, card_id, event):
        """Apply one move to one card, then go back to where the button was."""
        if not self.is_action_allowed("ship"):
            abort(403)
        if event not in MOVES:
            abort(404)
        card = self.get_one(card_id) or abort(404)
        if not can_move(card):
            abort(403)
        self.apply([card], event)
        return redirect(get_redirect_target() or url_for(".card", card_id=card.id))

    @expose("/carte/<int:card_id>")
    def card(self, card_id):
        """Show a card, its delivery address and its history, with the moves its state allows."""
        card = self.get_one(card_id) or abort(404)
        can_process = can_move(card)
        return self.render(
            "admin/cards/show.html",
            card=card,
            history=list(CardEvent.with_actors(CardEvent.card, card.id)),
            moves=[(event, MOVES[event][0]) for event in transitions.allowed_events(card) if event in MOVES]
            if can_process else [],
            can_process=can_process,
            request_url=request_url(card),
        )
