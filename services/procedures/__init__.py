"""The procedures a holder submits through the portal, one module each, found here by their code."""
from models import ProcedureCode
from services.procedures import contracts, cqc, pnd, replacements, tachographs
from services.procedures.base import Declaration, Step

#: Every procedure served by the generic verbs, the wizard and the staff queues.
REGISTRY = {
    d.code: d for d in (cqc.DECLARATION, *replacements.DECLARATIONS, pnd.DECLARATION, *contracts.DECLARATIONS,
                        *tachographs.DECLARATIONS)
}

__all__ = ["REGISTRY", "Declaration", "Step", "get", "of"]


def get(code):
    """Return the declaration of a procedure by its code."""
    return REGISTRY[ProcedureCode(code)]


def of(dossier):
    """Return the declaration of a file's procedure."""
    return get(dossier.procedure.code)
