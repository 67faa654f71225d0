"""« Mes Gestionnaires »: an organisation's administrators designate, modify and delete managers and deputies."""
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, StringField

from public_forms import ADMINS, account_required
from services import fields as f
from services import members
from services.errors import Refused

bp = Blueprint("managers", __name__, url_prefix="/mes-gestionnaires")
admins_only = account_required(*ADMINS)

EMAIL_NOTICE = ("L'adresse électronique n'est pas modifiable. En cas d'erreur, veuillez supprimer le gestionnaire "
                "et le créer de nouveau.")
DEPUTY_ADVICE = ("Il est vivement conseillé de désigner au minimum un administrateur suppléant afin qu'il soit en mesure "
                 "d'assurer les activités pour une durée courte ou indéterminée en cas d'évènement entravant la tenue du "
                 "compte administrateur principal.")


class MemberForm(f.Form):
    """A member's record: everything but the address, which never changes."""

    last_name = StringField("Nom", [f.required(), f.max_length(80)], filters=[f.strip])
    first_name = StringField("Prénom", [f.required(), f.max_length(120)], filters=[f.strip])
    function = StringField("Fonction", [f.required(), f.max_length(120)], filters=[f.strip])
    phone = StringField("Numéro de téléphone", [f.required(), f.phone_number], filters=[f.strip])
    admin = RadioField(
        "J'ajoute cet utilisateur aux administrateurs de ma structure.",
        choices=[("oui", "Oui"), ("non", "Non")],
        validate_choice=True,
        invalid_choice_message="Choisissez « Oui » (administrateur suppléant) ou « Non » (gestionnaire).",
    )

    def values(self):
        return {name: self[name].data for name in members.FIELDS}


class NewMemberForm(MemberForm):
    email = StringField("Adresse électronique", [f.required(), f.email_address, f.max_length(254)], filters=[f.strip])
    email_confirm = StringField("Confirmer l'adresse électronique", [f.required(), f.same_email_as("email")],
                                filters=[f.strip])


def _organisation():
    return current_user.organisation


def _member(member_id):
    return members.member_of(_organisation(), member_id) or abort(404)


@bp.route("/")
@admins_only
def index():
    """List « Gestionnaires de mon établissement » and « Administrateur(s) de mon établissement »."""
    managers, administrators = members.members_of(_organisation())
    return render_template(
        "public/managers/index.html", managers=managers, administrators=administrators,
        no_deputy=len(administrators) < 2, advice=DEPUTY_ADVICE, can_resend_link=members.can_resend_link,
        form=FlaskForm(),
    )


@bp.route("/ajouter", methods=["GET", "POST"])
@admins_only
def add():
    """« DESIGNATION D'UN GESTIONNAIRE »: « Ajouter » creates the account and e-mails the password link."""
    form = NewMemberForm()
    if form.validate_on_submit():
        try:
            member = members.designate(_organisation(), current_user._get_current_object(),
                                       {**form.values(), "email": form.email.data}, admin=form.admin.data == "oui")
        except Refused as refusal:
            form[refusal.field or "email"].errors.append(refusal.message)
        else:
            flash(f"{member.role_label} {member.full_name} ajouté(e) : un courrier électronique l'invite à créer son "
                  f"mot de passe (lien valable 48 heures).", "success")
            return redirect(url_for(".index"))
    return render_template("public/managers/form.html", form=form, member=None, notice=EMAIL_NOTICE)


@bp.route("/<int:member_id>/modifier", methods=["GET", "POST"])
@admins_only
def edit(member_id):
    """Modify a member's name, first name, function, phone and rights; never the address."""
    member = _member(member_id)
    form = MemberForm(obj=member, data={"admin": "oui" if member.is_org_admin else "non"})
    if form.validate_on_submit():
        try:
            members.modify(member, current_user._get_current_object(), form.values(), admin=form.admin.data == "oui")
        except Refused as refusal:
            form[refusal.field or "admin"].errors.append(refusal.message)
        else:
            flash(f"La fiche de {form.first_name.data} {form.last_name.data.upper()} est modifiée.", "success")
            return redirect(url_for(".index"))
    return render_template("public/managers/form.html", form=form, member=member, notice=EMAIL_NOTICE)


@bp.route("/<int:member_id>/renvoyer", methods=["POST"])
@admins_only
def resend(member_id):
    """Send the password e-mail again (a new 48-hour link) to a member who has not created a password."""
    member = _member(member_id)
    if FlaskForm().validate_on_submit():
        try:
            members.resend(member, current_user._get_current_object())
        except Refused as refusal:
            flash(refusal.message, "error")
        else:
            flash(f"Un nouveau lien de création de mot de passe est envoyé à {member.email} (valable 48 heures).",
                  "success")
    return redirect(url_for(".index"))


@bp.route("/<int:member_id>/supprimer", methods=["POST"])
@admins_only
def delete(member_id):
    """Delete a member: they lose access at once; what they did stays attributed to them."""
    member = _member(member_id)
    if FlaskForm().validate_on_submit():
        try:
            members.remove(member, current_user._get_current_object())
        except Refused as refusal:
            flash(refusal.message, "error")
        else:
            flash(f"Le compte de {member.full_name} est supprimé : il n'a plus accès à son espace.", "success")
    return redirect(url_for(".index"))
