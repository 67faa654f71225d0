"""CQC requests: eligibility, the steps the driver fills in, and the staff decisions."""
from models import (
    Anomaly, CARD_TRAININGS, Certificate, CqcRequest, Document, DocumentKind, Dossier, REQUEST_FIELDS,
    RequestState, Training, db,
)
from services import audit, cards, storage, transitions
from models import clock
from services.errors import Refused

#: The steps of the CQC request, in order; a draft resumes at the one it reached.
STEPS = ["identite", "photo", "signature", "piece_identite", "adresse", "recapitulatif"]
STEP_LABELS = {
    "identite": "Vérification de mon identité",
    "photo": "Ma photo",
    "signature": "Ma signature",
    "piece_identite": "Ma pièce d'identité",
    "adresse": "Mon adresse de livraison",
    "recapitulatif": "Récapitulatif",
}
#: The document each upload step collects.
STEP_DOCUMENTS = {"photo": DocumentKind.PHOTO, "signature": DocumentKind.SIGNATURE, "piece_identite": DocumentKind.IDENTITY}
#: States in which a request still holds its training.
LIVE = [s for s in RequestState if s not in (RequestState.ANNULEE, RequestState.REFUSEE)]


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


def draft_of(user):
    """Return the driver's CQC draft, if any."""
    return (
        Dossier.select().join(CqcRequest).switch(Dossier)
        .where(Dossier.user == user, Dossier.state == RequestState.BROUILLON)
        .first()
    )


def start(user):
    """Start a CQC request (or return the draft already started); refuse with the reason when not eligible."""
    draft = draft_of(user)
    if draft is not None:
        return draft
    training = eligible_training(user)
    driver = user.driver
    with db.atomic():
        dossier = transitions.open_dossier("CQC", user, comment=f"Formation {training.title}")
        CqcRequest.create(
            dossier=dossier, training=training, delivery_name=user.full_name, delivery_address=driver.address,
            delivery_address_extra=driver.address_extra, delivery_postal_code=driver.postal_code, delivery_city=driver.city,
        )
        audit.record("Demande de CQC commencée", f"dossier {dossier.id}", user=user)
    return dossier


def touch(dossier):
    """Record that the holder worked on the file (an untouched draft is erased after a warning)."""
    Dossier.update(updated_at=clock.now(), draft_warned_at=None).where(Dossier.id == dossier.id).execute()


def reach(request, step):
    """Remember the furthest step reached, so « Reprendre » resumes there."""
    touch(request.dossier)
    if STEPS.index(step) > STEPS.index(request.step):
        CqcRequest.update(step=step).where(CqcRequest.id == request.id).execute()
        request.step = step


def current_document(dossier, kind):
    return (
        Document.select()
        .where(Document.dossier == dossier, Document.kind == kind, Document.replaced_at.is_null())
        .order_by(Document.id.desc())
        .first()
    )


def save_document(dossier, kind, file_storage):
    """Store an upload (type checked on content) as the request's current document of that kind."""
    data, content_type, suffix = storage.check_upload(file_storage)
    with db.atomic():
        previous = current_document(dossier, kind)
        if previous is not None:
            if dossier.state == RequestState.BROUILLON:
                storage.delete(previous.path)
                previous.delete_instance()
            else:  # keep it: staff see what changed
                Document.update(replaced_at=clock.now()).where(Document.id == previous.id).execute()
        return Document.create(
            dossier=dossier, kind=kind, path=storage.store(data, f"dossiers/{dossier.id}", suffix),
            original_name=(file_storage.filename or "")[:200], content_type=content_type, size=len(data),
            sha256=storage.digest(data),
        )


def missing(dossier):
    """Return the labels of what the request still lacks before it can be sent."""
    request = dossier.cqc.get()
    lacking = []
    if not request.identity_confirmed:
        lacking.append(STEP_LABELS["identite"])
    for step, kind in STEP_DOCUMENTS.items():
        if current_document(dossier, kind) is None:
            lacking.append(STEP_LABELS[step])
    if not (request.delivery_address and request.delivery_postal_code and request.delivery_city):
        lacking.append(STEP_LABELS["adresse"])
    return lacking


def submit(dossier, user):
    """Send a complete draft for processing."""
    lacking = missing(dossier)
    if lacking:
        raise Refused("Votre demande est incomplète : " + ", ".join(lacking) + ".")
    with db.atomic():
        transitions.transition(dossier, "submit", user=user, comment="Demande envoyée par le titulaire")


def cancel(dossier, user, comment="Demande annulée par le titulaire"):
    """Cancel a draft: its data and documents are erased, its training is free again."""
    with db.atomic():
        transitions.transition(dossier, "cancel", user=user, comment=comment)
        for document in dossier.documents:
            storage.delete(document.path)
        Document.delete().where(Document.dossier == dossier).execute()
        CqcRequest.update(
            identity_confirmed=False, **{field: "" for field in REQUEST_FIELDS}
        ).where(CqcRequest.dossier == dossier).execute()


# --- Staff ---------------------------------------------------------------------------------------


def take(dossier, staff):
    transitions.transition(dossier, "take", staff=staff, comment="Prise en instruction")


def accept(dossier, staff):
    """Accept a request: a card is ordered (« en fabrication »)."""
    with db.atomic():
        transitions.transition(dossier, "accept", staff=staff, comment="Demande acceptée")
        if dossier.procedure.code == "CQC":
            return cards.order(dossier, staff)
        from services import replacements

        return replacements.reproduce(dossier, staff)


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
    request = dossier.cqc.get()
    with db.atomic():
        for item, reason in reasons.items():
            Anomaly.create(dossier=dossier, field=item, reason=reason, old_value=item_value(dossier, request, item))
        summary = "; ".join(f"{Anomaly(field=i).field_label} : {r}" for i, r in reasons.items())
        transitions.transition(dossier, "ask_info", staff=staff, comment=summary)


def item_value(dossier, request, item):
    """Return what an item holds now: a field's value or the document's file name."""
    if item.startswith("document:"):
        document = current_document(dossier, item.split(":", 1)[1])
        return f"{document.original_name} ({clock.local(document.uploaded_at):%d/%m/%Y %H:%M})" if document else ""
    return getattr(request, item)


def answer(dossier, user, values, uploads):
    """Apply the driver's answer (just the items asked) and send the request back to instruction."""
    request = dossier.cqc.get()
    anomalies = list(dossier.open_anomalies())
    with db.atomic():
        for anomaly in anomalies:
            if anomaly.field.startswith("document:"):
                save_document(dossier, anomaly.field.split(":", 1)[1], uploads[anomaly.field])
            else:
                setattr(request, anomaly.field, values[anomaly.field])
        request.save()
        now = clock.now()
        for anomaly in anomalies:
            Anomaly.update(new_value=item_value(dossier, request, anomaly.field), corrected_at=now).where(
                Anomaly.id == anomaly.id).execute()
        transitions.transition(dossier, "answer", user=user, comment="Réponse à la demande d'information complémentaire")
