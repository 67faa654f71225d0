"""« Mes formations déclarées »: an approved training centre records its trainees' trainings."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import RadioField, StringField, ValidationError

from models import CATEGORIES, Approval, Certificate, Training, TrainingKind
from models import clock
from public_forms import CENTRE, account_required, requested_page
from services import fields as f
from services import trainings

bp = Blueprint("centre", __name__, url_prefix="/centre")

#: Trainings listed per page.
PAGE_SIZE = 20
KIND_CHOICES = [(kind.value, kind.value) for kind in (TrainingKind.FIMO, TrainingKind.FCO, TrainingKind.PASSERELLE)]


#: The members of a training centre record its trainings: administrators, deputies and managers.
centre_required = account_required(*CENTRE)


def approved_trainings(centre):
    """Return {category: set of training kinds} the approvals of this centre's SIRET allow."""
    allowed = {}
    for approval in Approval.select().where(Approval.siret == centre.siret):
        kinds = {kind.strip() for kind in approval.trainings.split(",") if kind.strip()}
        allowed.setdefault(approval.category, set()).update(kinds)
    return allowed


class TrainingForm(f.Form):
    """« Déclarer une formation »: the training and the driver it was given to."""

    kind = RadioField("Formation", choices=KIND_CHOICES, invalid_choice_message="Choisissez la formation : FIMO, FCO ou Passerelle.")
    category = RadioField(
        "Catégorie", choices=[(c, c) for c in CATEGORIES], invalid_choice_message="Choisissez « Marchandises » ou « Voyageurs »."
    )
    start_date = f.DateInput("Date de début", [f.required()], example="02 09 2024")
    end_date = f.DateInput("Date de fin", [f.required()], example="27 09 2024")
    last_name = StringField("Nom", [f.required(), f.max_length(80)], filters=[f.strip])
    first_name = StringField("Prénom(s)", [f.required(), f.max_length(120)], filters=[f.strip])
    birth_date = f.DateInput("Date de naissance", [f.required(), f.birth_date])
    licence_number = StringField("Numéro de permis de conduire", [f.required(), f.licence_number], filters=[f.upper_compact])

    def __init__(self, centre, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.allowed = approved_trainings(centre)

    def validate_end_date(self, field):
        if field.data is None:
            return
        if self.start_date.data is not None and field.data < self.start_date.data:
            raise ValidationError("La date de fin ne peut pas précéder la date de début.")
        if field.data > clock.today():
            raise ValidationError("La date de fin ne peut pas être dans le futur : déclarez la formation une fois terminée.")

    def validate_category(self, field):
        if field.errors:  # no choice made: already said
            return
        if field.data not in self.allowed:
            approved = " et ".join(f"« {c} »" for c in CATEGORIES if c in self.allowed) or "aucune catégorie"
            raise ValidationError(
                f"Votre centre n'est pas agréé pour les formations « {field.data} » : vos agréments couvrent {approved}."
            )
        if self.kind.data and self.kind.data not in self.allowed[field.data]:
            raise ValidationError(
                f"Votre agrément « {field.data} » ne couvre pas la formation {self.kind.data} "
                f"(formations agréées : {', '.join(sorted(self.allowed[field.data]))})."
            )

    def training_data(self):
        """Return the values services.trainings.record expects."""
        names = ("kind", "category", "start_date", "end_date", "last_name", "first_name", "birth_date", "licence_number")
        return {name: self[name].data for name in names}


def _search(query, term):
    like = f"%{term}%"
    compact = f"%{f.upper_compact(term)}%"
    return query.where(
        (Training.last_name ** like) | (Training.first_name ** like) | (Training.licence_number ** compact)
    )


@bp.route("/formations", methods=["GET", "POST"], endpoint="trainings")
@centre_required
def declared_trainings():
    """List the trainings the centre recorded and record a new one (« Déclarer une formation »)."""
    centre = current_user.organisation
    form = TrainingForm(centre)
    if form.validate_on_submit():
        training = trainings.record(centre, current_user._get_current_object(), **form.training_data())
        if training.summary_path:
            flash(
                f"Formation {training.title} déclarée pour {training.first_name} {training.last_name.upper()} : "
                "le récapitulatif est déposé sur son compte"
                + (" et son certificat de qualification lui est envoyé." if training.certificates.exists() else "."),
                "success",
            )
        elif training.user_id:
            flash(
                f"Formation {training.title} déclarée pour {training.first_name} {training.last_name.upper()} : "
                "son récapitulatif sera déposé sur son compte dès qu'il sera produit.",
                "success",
            )
        else:
            flash(
                f"Formation {training.title} déclarée pour {training.first_name} {training.last_name.upper()} : "
                "elle sera déposée sur le compte du conducteur dès sa création.",
                "success",
            )
        return redirect(url_for(".trainings"))

    term = f.strip(request.args.get("q", ""))[:100]
    page = requested_page()
    query = Training.select().where(Training.centre == centre)
    if term:
        query = _search(query, term)
    total = query.count()
    rows = list(query.order_by(Training.created_at.desc(), Training.id.desc()).paginate(page, PAGE_SIZE))
    with_certificate = {
        c.training_id for c in Certificate.select(Certificate.training).where(Certificate.training.in_([t.id for t in rows]))
    } if rows else set()
    return render_template(
        "public/centre/trainings.html",
        form=form,
        rows=rows,
        with_certificate=with_certificate,
        term=term,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        total=total,
        allowed=form.allowed,
        open_form=request.method == "POST",
    )
