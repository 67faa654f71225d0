"""« Demandes de CQC »: the queue of CQC requests; their page shows the training used and its certificate."""
from flask_login import current_user

from admin_views.dossiers import DossierQueue
from models import Certificate, CqcRequest, Dossier, Driver, Organisation, Procedure, ProcedureCode, Training, User

PROCEDURE = ProcedureCode.CQC


class CqcRequestView(DossierQueue):
    """The CQC requests of the procedures this staff member may see, oldest sent first."""

    codes = (PROCEDURE,)
    data_template = "admin/requests/_cqc.html"
    file_title = "Demande de CQC"
    intro = ("Les demandes sont classées de la plus ancienne à la plus récente (date d'envoi ou de réponse du titulaire). "
             "Par défaut, les brouillons et les demandes annulées ne sont pas affichés.")
    column_list = ("submitted_at", "id", "holder", "email", "licence", "training", "state", "waiting")
    column_labels = {**DossierQueue.column_labels, "licence": "N° de permis", "training": "Formation"}
    search_hint = "Nom, adresse électronique ou n° de permis"
    column_filters = [DossierQueue.state_filter]
    column_formatters = {
        **DossierQueue.column_formatters,
        "licence": lambda v, c, d, n: d.user.driver.licence_number,
        "training": lambda v, c, d, n: d.cqc_request.training.title,
    }

    def scoped_query(self):
        return (
            Dossier.visible_to(current_user)
            .select_extend(User, Driver, CqcRequest, Training)
            .switch(Dossier)
            .join(User)
            .join(Driver, on=(Driver.user == User.id), attr="driver")
            .switch(Dossier)
            .join(CqcRequest, on=(CqcRequest.dossier == Dossier.id), attr="cqc_request")
            .join(Training, on=(CqcRequest.training == Training.id))
            .where(Dossier.procedure.in_(Procedure.ids_of(self.codes)))
        )

    def get_query(self):
        # The list reads only the columns it shows (the file page reads whole rows through scoped_query()).
        return super().get_query().select(
            Dossier.id, Dossier.state, Dossier.submitted_at, Dossier.procedure, Dossier.user, Dossier.organisation,
            Procedure.id, Procedure.code, Procedure.name, User.id, User.last_name, User.first_name, User.email,
            Driver.id, Driver.licence_number, CqcRequest.id, CqcRequest.training, Training.id, Training.kind,
            Training.category,
        )

    def search_clause(self, term):
        like = f"%{term}%"
        return (
            (User.last_name ** like) | (User.first_name ** like) | (User.email ** like)
            | (Driver.licence_number ** f"%{term.replace(' ', '').upper()}%")
        )

    def page_extras(self, dossier, request):
        training = (Training.select(Training, Organisation).join(Organisation, on=(Training.centre == Organisation.id))
                    .where(Training.id == request.training_id).get())
        return {"training": training, "certificate": Certificate.get_or_none(Certificate.training == request.training_id)}
