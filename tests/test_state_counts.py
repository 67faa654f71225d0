"""The counters of files per procedure and state (issue 10) stay equal to a count of the files, whoever writes."""
from peewee import fn

from models import Dossier, Procedure, ProcedureCode, RequestState, StateCount, db


def counted():
    rows = Dossier.select(Dossier.procedure, Dossier.state, fn.COUNT(Dossier.id).alias("n")).group_by(
        Dossier.procedure, Dossier.state)
    return {(row.procedure_id, row.state): row.n for row in rows}


def kept():
    return {(row.procedure_id, row.state): row.count for row in StateCount.select() if row.count}


def test_counters_follow_inserts_updates_and_deletes(app, make_driver):
    driver = make_driver(state="active")
    cqc, lost = Procedure.by_code(ProcedureCode.CQC), Procedure.by_code(ProcedureCode.CQC_PERTE)
    files = [Dossier.create(procedure=cqc, user=driver, state=RequestState.BROUILLON) for _ in range(5)]
    Dossier.insert_many([{"procedure": lost, "user": driver, "state": RequestState.ENVOYEE}] * 3).execute()
    assert kept() == counted()
    # One file, then several at once, change state; an update that leaves the state alone changes nothing.
    Dossier.update(state=RequestState.ENVOYEE).where(Dossier.id == files[0].id).execute()
    Dossier.update(state=RequestState.EN_INSTRUCTION).where(Dossier.id.in_([f.id for f in files[1:3]])).execute()
    Dossier.update(reminded_at=None).execute()
    files[3].state = RequestState.ANNULEE
    files[3].save()
    Dossier.update(procedure=cqc).where(Dossier.procedure == lost, Dossier.id == Dossier.select(fn.MAX(Dossier.id))).execute()
    assert kept() == counted()
    Dossier.delete().where(Dossier.id.in_([files[4].id, files[0].id])).execute()
    assert kept() == counted()
    assert StateCount.of([cqc.id]) == {RequestState.EN_INSTRUCTION: 2, RequestState.ANNULEE: 1, RequestState.ENVOYEE: 1,
                                       RequestState.BROUILLON: 0}


def test_a_rolled_back_transaction_leaves_the_counters_as_they_were(app, make_driver):
    driver = make_driver(state="active")
    cqc = Procedure.by_code(ProcedureCode.CQC)
    before = kept()
    with db.atomic() as transaction:
        Dossier.create(procedure=cqc, user=driver, state=RequestState.ENVOYEE)
        transaction.rollback()
    assert kept() == before == counted()
