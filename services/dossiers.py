"""The generic verbs of any file (« télédossier »): open a draft, save its steps, send, cancel, decide, answer, pay.

What differs between procedures is declared in services/procedures/; these verbs serve them all.
"""
from models import Anomaly, RequestState, clock, db
from services import audit, payments, procedures, transitions, uploads
from services.errors import Refused

declaration_of = procedures.of


def data_of(dossier):
    """Return the data row of a file (the CQC request, the replacement …)."""
    return declaration_of(dossier).data_of(dossier)


def start(code, user, **params):
    """Open a draft of a procedure, or return the holder's draft of it; refused, with the reason, when not allowed.

    A draft of a sibling procedure (another replacement reason) gives way to the new one.
    """
    declaration = procedures.get(code)
    if user.role not in declaration.submitted_by:
        raise Refused(f"La démarche « {declaration.label} » n'est pas ouverte à votre profil.")
    draft, values = declaration.prepare(user, **params)
    if draft is not None and draft.procedure.code == declaration.code:
        return draft
    with db.atomic():
        if draft is not None:
            cancel(draft, user, comment="Motif de remplacement changé")
        dossier = transitions.open_dossier(declaration.code, user, comment=declaration.opening(values),
                                           organisation=user.organisation_id)
        declaration.data_model.create(dossier=dossier, **values)
        audit.record(f"Demande commencée : {declaration.label}", f"dossier {dossier.id}", user=user)
    return dossier


def reach(dossier, data, step):
    """Remember the furthest step reached, so « Reprendre » resumes there."""
    uploads.touch(dossier)
    names = declaration_of(dossier).step_names
    if data.step not in names or names.index(step) > names.index(data.step):
        type(data).update(step=step).where(type(data).id == data.id).execute()
        data.step = step


def missing(dossier):
    """Return what a draft still lacks before it can be sent, as its summary names it."""
    declaration = declaration_of(dossier)
    return declaration.missing(dossier, declaration.data_of(dossier))


def validate(dossier, user):
    """Send a complete draft: a paid procedure goes to payment (returned), any other one is sent for processing."""
    lacking = missing(dossier)
    if lacking:
        raise Refused("Votre demande est incomplète : " + ", ".join(lacking) + ".")
    declaration = declaration_of(dossier)
    if declaration.product:
        return payments.checkout(dossier, user, declaration.product)
    with db.atomic():
        if declaration.invoiced:
            payments.freeze_price(dossier, declaration.invoiced)
        submit(dossier, user, declaration.submitting)
    return None


def submit(dossier, user, comment):
    """Send a file for processing, with what its procedure does on sending (a card declared lost), in one transaction."""
    with db.atomic():
        transitions.transition(dossier, "submit", user=user, comment=comment)
        declaration_of(dossier).on_submit(dossier, user)


def cancel(dossier, user, comment="Demande annulée par le titulaire"):
    """Cancel a draft: its documents and the data typed are erased (what links the file stays)."""
    declaration = declaration_of(dossier)
    model = declaration.data_model
    erased = {
        name: (column.default() if callable(column.default) else column.default)
        for name, column in model._meta.fields.items()
        if name not in (*declaration.kept_on_cancel, model._meta.primary_key.name)
    }
    with db.atomic():
        transitions.transition(dossier, "cancel", user=user, comment=comment)
        uploads.erase(dossier)
        model.update(**erased).where(model.dossier == dossier).execute()


# --- Staff decisions -----------------------------------------------------------------------------------


def take(dossier, staff):
    transitions.transition(dossier, "take", staff=staff, comment="Prise en instruction")


def accept(dossier, staff):
    """Accept a file: the procedure orders what it gives (a card, usually) and returns it."""
    with db.atomic():
        transitions.transition(dossier, "accept", staff=staff, comment="Demande acceptée")
        return declaration_of(dossier).on_accept(dossier, staff)


def reject(dossier, staff, reason):
    reason = (reason or "").strip()
    if not reason:
        raise Refused("Indiquez le motif du refus : il est communiqué au demandeur.")
    transitions.transition(dossier, "reject", staff=staff, comment=reason)


def ask_info(dossier, staff, reasons):
    """Ask for more information: each item (a field or « document:<kind> ») with its reason."""
    reasons = {item: (reason or "").strip() for item, reason in reasons.items()}
    if not reasons or not all(reasons.values()):
        raise Refused("Choisissez au moins une information ou un document à corriger, et la raison pour chacun.")
    data = data_of(dossier)
    with db.atomic():
        for item, reason in reasons.items():
            Anomaly.create(dossier=dossier, field=item, reason=reason, old_value=item_value(dossier, data, item))
        summary = "; ".join(f"{Anomaly(field=i).field_label} : {r}" for i, r in reasons.items())
        transitions.transition(dossier, "ask_info", staff=staff, comment=summary)


def item_value(dossier, data, item):
    """Return what an item holds now: a field's value or the document's file name."""
    if item.startswith("document:"):
        document = uploads.current_document(dossier, item.split(":", 1)[1])
        return f"{document.original_name} ({clock.local(document.uploaded_at):%d/%m/%Y %H:%M})" if document else ""
    return getattr(data, item)


def answer(dossier, user, values, files):
    """Apply the holder's answer (just the items asked) and send the file back to instruction."""
    declaration = declaration_of(dossier)
    data = declaration.data_of(dossier)
    anomalies = list(dossier.open_anomalies())
    with db.atomic():
        for anomaly in anomalies:
            if anomaly.field.startswith("document:"):
                kind = anomaly.field.split(":", 1)[1]
                uploads.save_document(dossier, kind, files[anomaly.field], declaration.accepts(kind))
            else:
                setattr(data, anomaly.field, values[anomaly.field])
        data.save()
        now = clock.now()
        for anomaly in anomalies:
            Anomaly.update(new_value=item_value(dossier, data, anomaly.field), corrected_at=now).where(
                Anomaly.id == anomaly.id).execute()
        transitions.transition(dossier, "answer", user=user, comment="Réponse à la demande d'information complémentaire")


# --- Payments ------------------------------------------------------------------------------------------


def settle_payment(fields):
    """Apply a payment provider's notification; a confirmed payment moves the file it was for."""
    return payments.handle_notification(fields, on_paid=paid)


def paid(payment):
    """Move the file a confirmed payment was for (inside the notification's transaction); False when it no longer waits.

    A file cancelled meanwhile, or whose move the lifecycle now refuses (the returned card's address confirmed
    meanwhile), is left as it was and written to the audit log: the payment is then refunded.
    """
    dossier = payment.dossier
    try:
        with db.atomic():  # a savepoint: a move refused halfway leaves nothing behind
            _move_paid(dossier, payment)
    except Refused as refusal:
        state = type(dossier).get_by_id(dossier.id).state_label  # as the rollback left it
        audit.record("Paiement reçu pour une demande qui ne l'attendait plus : remboursé avec un avoir", payment.reference,
                     f"dossier {dossier.id} à l'état « {state} » : {refusal.message}", user=payment.user)
        return False
    return True


def _move_paid(dossier, payment):
    declaration = declaration_of(dossier)
    asked = dossier.open_anomalies().where(Anomaly.field == "paiement")
    if dossier.state == RequestState.BROUILLON and declaration.on_paid is not None:
        declaration.on_paid(payment)
    elif dossier.state == RequestState.BROUILLON:
        submit(dossier, payment.user, "Paiement confirmé")
    elif dossier.state == RequestState.ATTENTE_COMPLEMENT and asked.exists():
        Anomaly.update(new_value="Payé", corrected_at=clock.now()).where(
            Anomaly.dossier == dossier, Anomaly.field == "paiement", Anomaly.corrected_at.is_null()).execute()
        transitions.transition(dossier, "answer", user=payment.user, comment="Remplacement payé par le titulaire")
    else:
        raise Refused("La demande n'attendait plus ce paiement.")
