"""What every queue offers (admin_views/queues.py): the late and day filters, exports of the list as filtered and
searched (CSV for Excel, XLSX read back with openpyxl), bounded and audited, and the saved filters of the page."""
import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from admin_views.queues import EXPORT_MAX_ROWS
from models import AuditLog, Dossier, SavedFilter, User, clock
from tests import dashboard_data
from tests.dashboard_data import CODES
from tests.dashboard_data import agent, fast_pdfs, files  # noqa: F401 (fixtures)


def read_csv(response):
    """Return the rows of a CSV export, checking it is what Excel opens: UTF-8 with BOM, « ; » between cells."""
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    data = response.get_data()
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def read_xlsx(response):
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


def export(client, queue, fmt, query=""):
    return client.get(f"/admin/{queue}/exporter/{fmt}" + (f"?{query}" if query else ""))


def test_the_csv_and_xlsx_exports_hold_exactly_the_filtered_rows(client, files, agent):
    query = "flt0_0=envoyee"  # the state filter of « Demandes de CQC »
    rows = read_csv(export(client, "cqc_requests", "csv", query))
    header = ["Envoyée le", "N°", "Titulaire", "Adresse électronique", "N° de permis", "Formation", "Statut", "Attente"]
    assert rows[0] == header
    expected = [files[name] for name in ("E2", "E3", "E1")]  # the queue's order: oldest sent first
    assert [int(row[1]) for row in rows[1:]] == [d.id for d in expected]
    assert rows[1][0] == clock.local(files["E2"].submitted_at).strftime("%d/%m/%Y %H:%M")
    assert rows[1][2] == "DUPONT Jean" and rows[1][6] == "Envoyée" and rows[1][7] == "6 j 3 h"
    sheet = read_xlsx(export(client, "cqc_requests", "xlsx", query))
    assert sheet[0] == header
    assert [row[1] for row in sheet[1:]] == [d.id for d in expected]
    assert sheet[1][0] == clock.local(files["E2"].submitted_at).replace(tzinfo=None, microsecond=0)
    assert isinstance(sheet[1][0], dt.datetime) and isinstance(sheet[1][1], int)
    assert [row[2:] for row in sheet[1:]] == [row[2:] for row in rows[1:]]


def test_an_export_keeps_the_search_the_procedure_and_the_late_filter(client, files, agent):
    queue = next(v for v in client.application.extensions["admin"][0]._views if v.endpoint == "replacement_requests")
    late_losses = queue.filtered_url(code="CQC_PERTE", late="oui").split("?", 1)[1]
    rows = read_csv(export(client, "replacement_requests", "csv", late_losses))
    assert [int(row[1]) for row in rows[1:]] == [files["P1"].id]
    searched = read_xlsx(export(client, "replacement_requests", "xlsx", "search=Dupont"))
    assert {row[1] for row in searched[1:]} == dashboard_data.names_in(files, "P2")
    accounts = read_csv(export(client, "all_accounts", "csv", "flt0_0=a_corriger"))
    assert accounts[0][:2] == ["Déposé le", "Titulaire"] and len(accounts) == 2
    assert accounts[1][1].startswith("COMPTEC3")


def test_an_export_is_audited_and_bounded(client, files, agent, monkeypatch):
    from admin_views.dossiers import DossierQueue

    before = AuditLog.select().count()
    read_csv(export(client, "cqc_requests", "csv", "flt0_0=envoyee&search=Dupont"))
    line = AuditLog.select().order_by(AuditLog.id.desc()).get()
    assert AuditLog.select().count() == before + 1 and line.staff_id == agent.id
    assert line.action == "Export CSV : Demandes de CQC"
    assert line.target == "flt0_0=envoyee&search=Dupont"
    assert "Statut" in line.detail and "Envoyée" in line.detail and "recherche « Dupont »" in line.detail
    page = client.get("/admin/cqc_requests/").get_data(as_text=True)
    assert f"{EXPORT_MAX_ROWS:,}".replace(",", " ") + " lignes au plus" in page
    monkeypatch.setattr(DossierQueue, "export_max_rows", 2)
    assert len(read_xlsx(export(client, "cqc_requests", "xlsx"))) == 1 + 2
    assert AuditLog.select().count() == before + 2


def test_a_spreadsheet_formula_stays_text(client, files, agent):
    User.update(last_name="=1+2").where(User.id == Dossier.get_by_id(files["E1"].id).user_id).execute()
    rows = read_csv(export(client, "cqc_requests", "csv", "flt0_0=envoyee"))
    assert next(row[2] for row in rows if row[1] == str(files["E1"].id)) == "'=1+2 Jean"
    sheet = load_workbook(io.BytesIO(export(client, "cqc_requests", "xlsx", "flt0_0=envoyee").get_data())).active
    holders = [row[2] for row in sheet.iter_rows(min_row=2)]
    assert "=1+2 Jean" in [cell.value for cell in holders] and {cell.data_type for cell in holders} == {"s"}


def test_an_agent_exports_only_the_files_of_their_procedures(client, files, make_staff, login_staff):
    login_staff(make_staff(procedures=["CQC_VOL"]))
    assert read_csv(export(client, "cqc_requests", "csv"))[1:] == []
    rows = read_csv(export(client, "replacement_requests", "csv"))
    assert [int(row[1]) for row in rows[1:]] == [files["V1"].id]
    assert export(client, "cqc_requests", "pdf").status_code == 404


def test_the_day_filters_follow_paris_days(client, files, agent):
    yesterday = clock.today() - dt.timedelta(days=1)
    decided = read_csv(export(client, "cqc_requests", "csv", f"flt0_4={yesterday.strftime('%d/%m/%Y')}"))
    expected = {d.id for d in files.values() if d.procedure.code == "CQC" and d.decided_at
                and clock.local(d.decided_at).date() == yesterday}
    assert {int(row[1]) for row in decided[1:]} == expected
    assert client.get("/admin/cqc_requests/?flt0_4=31/02/2026").status_code == 200  # an impossible day is ignored


def test_the_queue_page_offers_exports_and_the_agent_s_saved_filters(client, files, agent, make_staff):
    SavedFilter.create(staff=agent, endpoint="cqc_requests", name="Mes envoyées", query="flt0_0=envoyee")
    SavedFilter.create(staff=make_staff(), endpoint="cqc_requests", name="Celles d'un autre", query="")
    page = client.get("/admin/cqc_requests/?flt0_0=envoyee&search=Dupont&apres=x").get_data(as_text=True)
    assert "/admin/cqc_requests/exporter/csv?flt0_0=envoyee&amp;search=Dupont" in page
    assert "/admin/cqc_requests/exporter/xlsx?flt0_0=envoyee&amp;search=Dupont" in page
    assert 'name="query" value="flt0_0=envoyee&amp;search=Dupont"' in page
    assert "Mes envoyées" in page and "Celles d&#39;un autre" not in page and "Celles d'un autre" not in page
    assert 'aria-label="Supprimer le filtre « Mes envoyées »"' in page
