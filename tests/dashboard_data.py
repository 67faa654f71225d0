"""A known set of files over procedures, states, ages and decisions: the dashboard's numbers and the queues' exports
are checked against it."""
import datetime as dt

import pytest

from models import (
    AccountState, Card, CardState, CqcRequest, Dossier, Organisation, Procedure, ProcedureCode, Replacement, RequestState,
    clock,
)
from tests.cqc_files import FORMATRANS, make_centre, record_for

H, D = dt.timedelta(hours=1), dt.timedelta(days=1)
S = RequestState

#: (name, procedure, state, sent ago, decided ago or None, holder): CQC files, replacements, accounts analysed.
FILES = [
    ("E1", "CQC", S.ENVOYEE, 2 * H, None, "Dupont"),
    ("E2", "CQC", S.ENVOYEE, 6 * D + 3 * H, None, "Dupont"),         # late (5 days), the oldest waiting
    ("E3", "CQC", S.ENVOYEE, 4 * D + 20 * H, None, "Zola"),          # not late yet
    ("I1", "CQC", S.EN_INSTRUCTION, 7 * D, None, "Dupont"),          # late
    ("I2", "CQC", S.EN_INSTRUCTION, 1 * D, None, "Zola"),
    ("H1", "CQC", S.ATTENTE_COMPLEMENT, 8 * D, None, "Dupont"),      # waits for its holder: never late
    ("A1", "CQC", S.ACCEPTEE, 10 * D, 8 * D, "Dupont"),              # 48 h to decide
    ("A2", "CQC", S.ACCEPTEE, 3 * D, 2 * D + 12 * H, "Zola"),        # 12 h
    ("R1", "CQC", S.REFUSEE, 5 * D, 1 * D, "Dupont"),                # 96 h
    ("A4", "CQC", S.ACCEPTEE, 20 * D, 19 * D, "Dupont"),             # 24 h
    ("A3", "CQC", S.ACCEPTEE, 60 * D, 40 * D, "Dupont"),             # before the 30 days
    ("B1", "CQC", S.BROUILLON, 1 * D, None, "Dupont"),               # never sent
    ("X1", "CQC", S.ANNULEE, 2 * D, None, "Zola"),                   # cancelled
    ("P1", "CQC_PERTE", S.ENVOYEE, 6 * D, None, "Zola"),             # late
    ("P2", "CQC_PERTE", S.EN_INSTRUCTION, 1 * H, None, "Dupont"),
    ("V1", "CQC_VOL", S.ACCEPTEE, 2 * D, 1 * D, "Zola"),             # 24 h
    ("C1", "COMPTE_PARTICULIER", AccountState.EN_ANALYSE, 30 * H, None, None),   # late (24 h)
    ("C2", "COMPTE_PARTICULIER", AccountState.EN_ANALYSE, 2 * H, None, None),
    ("C3", "COMPTE_PARTICULIER", AccountState.A_CORRIGER, 3 * D, 2 * D, None),   # 24 h
]

#: What the dashboard shows per procedure for FILES (the oldest waiting as its age, the median as a duration).
EXPECTED = {
    "CQC": {"waiting": "3", "instruction": "2", "holder": "1", "late": "2", "oldest": "6 j 3 h", "received": "10",
            "decided": "4", "median": "36 h"},
    "CQC_PERTE": {"waiting": "1", "instruction": "1", "holder": "0", "late": "1", "oldest": "6 j", "received": "2",
                  "decided": "0", "median": "—"},
    "CQC_VOL": {"waiting": "0", "instruction": "0", "holder": "0", "late": "0", "oldest": "—", "received": "1",
                "decided": "1", "median": "24 h"},
    "COMPTE_PARTICULIER": {"waiting": "2", "instruction": "—", "holder": "1", "late": "1", "oldest": "30 h",
                           "received": "3", "decided": "1", "median": "24 h"},
}
#: The procedures of FILES: an agent habilitated for them sees the rows above.
CODES = list(EXPECTED)


def build(make_driver, now=None):
    """Create FILES (with the data rows their queues join) as of now; return {name: dossier}."""
    now = now or clock.now()
    centre = Organisation.get_or_none(Organisation.siret == FORMATRANS) or make_centre()
    holders = {name: make_driver(state="active", last_name=name, first_name="Jean") for name in ("Dupont", "Zola")}
    for holder in holders.values():
        # Their own accounts were analysed long ago: outside the numbers.
        Dossier.update(submitted_at=now - 400 * D, created_at=now - 400 * D).where(
            Dossier.id == Dossier.account_of(holder).id).execute()
    trainings = {name: record_for(centre, holder) for name, holder in holders.items()}
    cards = {name: Card.create(user=holder, number=f"C-{name}-{holder.id}", category="Marchandises", state=CardState.ACTIVEE,
                               last_name=holder.last_name, first_name=holder.first_name,
                               birth_date=holder.driver.birth_date, birth_place="Lille",
                               licence_number=holder.driver.licence_number, issued_on=dt.date(2024, 1, 1),
                               expires_on=dt.date(2028, 12, 31))
             for name, holder in holders.items()}
    files = {}
    for name, code, state, sent, decided, holder in FILES:
        values = {"state": state, "submitted_at": now - sent, "created_at": now - sent,
                  "decided_at": now - decided if decided else None}
        if code == ProcedureCode.COMPTE_PARTICULIER:
            user = make_driver(last_name=f"Compte{name}")
            dossier = Dossier.account_of(user)
            Dossier.update(**values).where(Dossier.id == dossier.id).execute()
        else:
            dossier = Dossier.create(procedure=Procedure.by_code(code), user=holders[holder], **values)
            if code == ProcedureCode.CQC:
                CqcRequest.create(dossier=dossier, training=trainings[holder], delivery_address="1 rue des Lilas",
                                  delivery_postal_code="59000", delivery_city="Lille")
            else:
                Replacement.create(dossier=dossier, card=cards[holder], reason=code.split("_")[1].lower())
        files[name] = Dossier.get_by_id(dossier.id)
    return files


def names_in(files, *names):
    """Return the ids of the named files."""
    return {files[name].id for name in names}


# --- Fixtures of the modules that use this data set (imported by name there) ----------------------------------


@pytest.fixture(autouse=True)
def fast_pdfs(monkeypatch):
    """Skip wkhtmltopdf: the trainings of the data set need a summary and a certificate, not their look."""
    from tests import driver_data

    driver_data.fast_pdfs(monkeypatch)


@pytest.fixture
def files(make_driver):
    """Build the known data set; return its files."""
    return build(make_driver)


@pytest.fixture
def agent(make_staff, login_staff):
    """An agent habilitated for every procedure of the data set, logged in."""
    member = make_staff(procedures=CODES)
    login_staff(member)
    return member
