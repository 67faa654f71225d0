"""What a procedure declares: its steps, its data row, who submits it, its fee and its hooks."""
from dataclasses import dataclass, field
from typing import Callable

from models import PROCEDURES, DOCUMENT_LABELS, ProcedureCode, Product, Role
from services import storage, transitions
from services.uploads import current_document


@dataclass(frozen=True)
class Step:
    """One step of a procedure's wizard."""

    name: str
    label: str
    #: Its partial under templates/public/wizard/steps/.
    template: str
    #: A fields step: a form whose fields are columns of the file's data row.
    form: type | None = None
    #: An upload step: the kind of document it collects, and the types that document may be.
    document: str | None = None
    accepts: tuple = storage.ANY_DOCUMENT
    #: What the step says under its title.
    hint: str = ""
    #: What an upload step says when it is left without a file.
    empty: str = "Choisissez un fichier."


def _nothing(*args, **kwargs):
    return None


@dataclass(frozen=True)
class Declaration:
    """A procedure as the generic verbs, the wizard and the staff queue serve it."""

    code: ProcedureCode
    #: The data row of its files: a model with a unique `dossier` key and a `step` column.
    data_model: type
    steps: tuple
    #: The blueprint serving its pages (their URLs are bookmarked: they never move).
    pages: str
    #: Its summary partial (templates/public/...), shown by « Afficher » and the last step.
    summary_template: str
    #: How the wizard names a file of it (« Carte de qualification de conducteur (CQC) »).
    title: str
    #: The tariff product paid before submission, or None (free, or invoiced to someone else).
    product: Product | None = None
    #: The tariff product invoiced to someone else (a centre's contract), at the price frozen on submission.
    invoiced: Product | None = None
    submitted_by: tuple = (Role.DRIVER,)
    #: Fields of the data row staff may ask the holder to correct, with their labels.
    askable_fields: dict = field(default_factory=dict)
    #: Columns of the data row a cancellation keeps (what links it); every other one is erased.
    kept_on_cancel: tuple = ("dossier", "step")
    #: prepare(user, **params) -> (draft to continue or replace, or None; column values of a new data row).
    prepare: Callable = _nothing
    #: missing(dossier, data) -> what the draft still lacks, as the summary names it.
    missing: Callable = _nothing
    #: on_accept(dossier, staff) -> the card ordered, or None.
    on_accept: Callable = _nothing
    #: on_submit(dossier, user): what sending the file does besides its move, in the same transaction.
    on_submit: Callable = _nothing
    #: on_paid(payment): move the file a confirmed payment was for (None: the generic move).
    on_paid: Callable | None = None
    #: extra_actions(dossier, data) -> the procedure's own holder actions beyond the lifecycle's.
    extra_actions: Callable = lambda dossier, data: []
    #: summary_context(dossier, data) -> what its summary partial needs beyond the file, its data and documents.
    summary_context: Callable = lambda dossier, data: {}
    #: resume(dossier, data) -> where « Reprendre » leads instead of the step reached (None: the step).
    resume: Callable = _nothing
    #: What the history says when the holder opens and sends a file.
    opening: Callable = lambda data: ""
    submitting: str = "Demande envoyée par le titulaire"

    @property
    def label(self):
        return dict(PROCEDURES)[self.code]

    @property
    def lifecycle(self):
        return transitions.lifecycle_of(self.code)[0]

    @property
    def step_names(self):
        return [step.name for step in self.steps]

    def step(self, name):
        """Return the step with this name, or None."""
        return next((step for step in self.steps if step.name == name), None)

    @property
    def documents(self):
        """Return {kind: label} of the documents its upload steps collect, in step order."""
        return {step.document: DOCUMENT_LABELS[step.document] for step in self.steps if step.document}

    def lacking_documents(self, dossier):
        """Return the labels of the upload steps still without a document."""
        return [step.label for step in self.steps if step.document and current_document(dossier, step.document) is None]

    def accepts(self, kind):
        """Return the types a document of this kind may be."""
        return next((step.accepts for step in self.steps if step.document == kind), storage.ANY_DOCUMENT)

    def holder_actions(self, dossier, data):
        """Return what the holder may do on a file in its state: the lifecycle's actions, then the procedure's own."""
        return transitions.holder_actions(self.lifecycle, dossier.state) + list(self.extra_actions(dossier, data))

    def data_of(self, dossier):
        """Return the data row of a file of this procedure."""
        return self.data_model.get(self.data_model.dossier == dossier)
