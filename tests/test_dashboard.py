"""The back-office dashboard (issue 12, point 8): per procedure, where the files stand and the last 30 days, each
number a link to its filtered queue; charts with their data tables; saved filters private to their author."""
import datetime as dt
import html
import os
import re

import pytest
from peewee import fn

from models import (
    AuditLog, CqcRequest, Dossier, DossierEvent, Procedure, ProcedureCode, RequestState, SavedFilter, clock,
)
from admin_views.home import StaffHomeView
from models import activity
from services import accounts, dossiers
from tests import dashboard_data
from tests.cqc_files import make_centre, record_for, sent_request
from tests.dashboard_data import CODES, EXPECTED, FILES, D, H
from tests.dashboard_data import agent, fast_pdfs, files  # noqa: F401 (fixtures)
from tests.test_query_counts import counting

COLUMNS = ("waiting", "instruction", "holder", "late", "oldest", "received", "decided", "median")
#: The columns that count files: their link opens a queue listing exactly that many.
COUNTS = ("waiting", "instruction", "holder", "late", "received", "decided")


def page(client, path="/admin/"):
    response = client.get(path)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def cells(cell):
    """Return (text, link) of a dashboard cell."""
    link = re.search(r'<a href="([^"]+)"', cell)
    words = " ".join(html.unescape(re.sub(r"<small.*?</small>|<[^>]+>", " ", cell, flags=re.S)).split())
    return words, html.unescape(link.group(1)) if link else None


def dashboard(body):
    """Return {procedure code: {column: (text, link)}} of the dashboard's table."""
    table = {}
    for code, row in re.findall(r'<tr data-procedure="(\w+)">(.*?)</tr>', body, flags=re.S):
        values = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        table[code] = dict(zip(COLUMNS, (cells(value) for value in values)))
    return table


def listed(client, url):
    """Return the ids of the files a queue's page lists (its largest page)."""
    body = page(client, url + ("&" if "?" in url else "?") + "page_size=100")
    return set(map(int, re.findall(r'href="/admin/\w+/(?:demande|analyse)/(\d+)"', body)))


def test_a_decision_dates_the_file_and_an_information_request_does_not(app, make_driver, make_staff):
    agent = make_staff(procedures=["CQC", "COMPTE_PARTICULIER"])
    driver = make_driver(state="active")
    record_for(make_centre(), driver)
    dossier = sent_request(driver)
    dossiers.take(dossier, agent)
    dossiers.ask_info(Dossier.get_by_id(dossier.id), agent, {"delivery_city": "Ville inconnue"})
    dossiers.answer(Dossier.get_by_id(dossier.id), driver, {"delivery_city": "Lille"}, {})
    assert Dossier.get_by_id(dossier.id).decided_at is None
    dossiers.accept(Dossier.get_by_id(dossier.id), agent)
    decided = Dossier.get_by_id(dossier.id)
    assert decided.state == RequestState.ACCEPTEE and decided.decided_at == decided.updated_at
    account = Dossier.account_of(make_driver())
    accounts.accept(account, agent)
    assert Dossier.get_by_id(account.id).decided_at is not None


def test_the_dashboard_shows_the_known_numbers_of_each_procedure(client, files, agent):
    table = dashboard(page(client))
    assert set(table) == set(EXPECTED)
    for code, expected in EXPECTED.items():
        assert {column: text for column, (text, _) in table[code].items()} == expected, code


def test_the_late_files_and_the_oldest_follow_each_procedure_target(app, files):
    procedures = list(Procedure.select().where(Procedure.code.in_(CODES)))
    figures = {p.code: activity.figures(procedures)[p.id] for p in procedures}
    assert figures["CQC"].late == 2 and figures["CQC_PERTE"].late == 1 and figures["COMPTE_PARTICULIER"].late == 1
    assert figures["CQC"].oldest_at == files["E2"].submitted_at
    assert figures["COMPTE_PARTICULIER"].oldest_at == files["C1"].submitted_at
    assert figures["CQC_VOL"].oldest_at is None and figures["COMPTE_PARTICULIER"].instruction is None


def test_a_procedure_with_many_files_at_the_service_has_its_late_ones_capped(app, files, monkeypatch):
    monkeypatch.setattr(activity, "COUNT_CAP", 1)  # CQC holds 5 files at the service: beyond twice the cap
    procedures = list(Procedure.select().where(Procedure.code.in_(CODES)))
    late = {p.code: activity.figures(procedures)[p.id].late for p in procedures}
    assert late == {"CQC": 2, "CQC_PERTE": 1, "CQC_VOL": 0, "COMPTE_PARTICULIER": 1}  # at most the cap + 1


def expected_days(dates, files, codes, column):
    """Count, per day index of the window, the files of these procedures sent (or decided) that day."""
    counts = {}
    for name, code, state, sent, decided, _ in FILES:
        moment = getattr(files[name], column)
        if code not in codes or moment is None or (column == "submitted_at" and state in activity.UNSENT):
            continue
        index = (clock.local(moment).date() - dates[0]).days
        if 0 <= index < len(dates):
            counts[index] = counts.get(index, 0) + 1
    return counts


def test_the_30_days_series_and_medians_are_exact(app, files):
    dates, end = activity.window()
    procedures = {p.code: p.id for p in Procedure.select().where(Procedure.code.in_(CODES))}
    series = activity.daily(list(procedures.values()), dates, end)
    for code, procedure_id in procedures.items():
        for kind, column in (("received", "submitted_at"), ("decided", "decided_at")):
            got = {day: n for (k, p, day), n in series.items() if k == kind and p == procedure_id}
            assert got == expected_days(dates, files, [code], column), (code, kind)
    per_procedure, per_day = activity.medians(list(procedures.values()), [procedures["CQC"]], dates, end)
    assert per_procedure == {procedures["CQC"]: 36 * 3600, procedures["CQC_VOL"]: 24 * 3600,
                             procedures["COMPTE_PARTICULIER"]: 24 * 3600}
    decisions = {}
    for name in ("A1", "A2", "R1", "A4"):
        day = (clock.local(files[name].decided_at).date() - dates[0]).days
        decisions.setdefault(day, []).append(round((files[name].decided_at - files[name].submitted_at).total_seconds()))
    assert per_day == {day: sorted(values)[len(values) // 2] for day, values in decisions.items()}


def test_every_number_links_to_a_queue_listing_as_many_files(client, files, agent):
    table = dashboard(page(client))
    for code, row in table.items():
        for column in COUNTS:
            text, link = row[column]
            if text == "—":
                continue
            assert link, (code, column)
            assert len(listed(client, link)) == int(text), (code, column, link)
    # The late CQC files are exactly E2 and I1; the waiting accounts C1 and C2.
    assert listed(client, table["CQC"]["late"][1]) == dashboard_data.names_in(files, "E2", "I1")
    assert listed(client, table["COMPTE_PARTICULIER"]["waiting"][1]) == dashboard_data.names_in(files, "C1", "C2")
    assert listed(client, table["CQC_PERTE"]["late"][1]) == dashboard_data.names_in(files, "P1")


def test_the_charts_of_one_procedure_have_a_table_whose_numbers_open_that_day_s_files(client, files, agent):
    body = page(client, "/admin/?demarche=CQC")
    assert body.count("<svg") == 2 and 'role="img"' in body
    assert "Tableau des données : reçus et décidés par jour" in body
    dates, _ = activity.window()
    received = expected_days(dates, files, ["CQC"], "submitted_at")
    decided = expected_days(dates, files, ["CQC"], "decided_at")
    table = body.split("Tableau des données : reçus et décidés par jour", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<th scope="row">(\d\d/\d\d/\d{4})</th><td>(.*?)</td><td>(.*?)</td>', table)
    assert len(rows) == 30
    for index, (day, received_cell, decided_cell) in enumerate(rows):
        assert day == dates[index].strftime("%d/%m/%Y")
        for cell, counts in ((received_cell, received), (decided_cell, decided)):
            text, link = cells(cell)
            assert int(text) == counts.get(index, 0)
            assert len(listed(client, link)) == int(text), (day, link)
    # Every bar says its day and number, for a pointer; the delays chart draws the days with a decision.
    assert f"{dates[-1]:%d/%m} : 1 reçus" in body
    assert body.split("Délai médian de décision par jour", 1)[1].count("<circle") >= 1


def test_all_procedures_together_have_no_links_per_day(client, files, agent):
    body = page(client)
    table = body.split("Tableau des données : reçus et décidés par jour", 1)[1].split("</table>", 1)[0]
    assert "<a " not in table and "Choisissez une démarche" in body


def test_an_agent_sees_only_the_procedures_of_their_habilitations(client, files, make_staff, login_staff):
    login_staff(make_staff(procedures=["CQC_VOL"]))
    table = dashboard(page(client))
    assert list(table) == ["CQC_VOL"]
    assert "Aucun télédossier en attente" in page(client)


def test_the_dashboard_costs_the_same_queries_whatever_the_files(client, make_driver, agent, monkeypatch):
    monkeypatch.setattr(StaffHomeView, "figures_kept", dt.timedelta(0))  # the medians' query counted each time

    def queries():
        for path in ("/admin/", "/admin/?demarche=CQC"):
            client.get(path)
        with counting() as counter:
            assert client.get("/admin/?demarche=CQC").status_code == 200
            assert client.get("/admin/").status_code == 200
        return counter.count

    dashboard_data.build(make_driver)
    few = queries()
    # Three times the files, later and earlier, in every state.
    for shift in (0, 3, 11):
        dashboard_data.build(make_driver, now=clock.now() - shift * D)
    assert queries() == few


def test_the_medians_are_recomputed_every_5_minutes(client, files, agent, clock):
    assert dashboard(page(client))["CQC_VOL"]["median"][0] == "24 h"
    Dossier.update(decided_at=files["V1"].submitted_at + 2 * H).where(Dossier.id == files["V1"].id).execute()
    assert dashboard(page(client))["CQC_VOL"]["median"][0] == "24 h"  # kept
    clock.advance(minutes=5)
    assert dashboard(page(client))["CQC_VOL"]["median"][0] == "2 h"


def test_the_days_before_today_are_recounted_every_5_minutes_and_today_at_each_view(client, files, agent, clock):
    assert dashboard(page(client))["CQC"]["received"][0] == "10"
    Dossier.update(submitted_at=activity.clock.now()).where(Dossier.id == files["A3"].id).execute()  # 60 days ago: now today
    assert dashboard(page(client))["CQC"]["received"][0] == "11"
    Dossier.update(submitted_at=activity.clock.now() - 70 * D).where(Dossier.id == files["A4"].id).execute()  # out of the days
    assert dashboard(page(client))["CQC"]["received"][0] == "11"  # the days before today are kept
    clock.advance(minutes=5)
    assert dashboard(page(client))["CQC"]["received"][0] == "10"


# --- Saved filters ---------------------------------------------------------------------------------------------


def test_a_saved_filter_is_its_author_s_only(app, client, files, make_staff, login_staff):
    author, other = make_staff(procedures=CODES), make_staff(procedures=CODES)
    login_staff(author)
    query = "flt0_0=envoyee&search=Dupont&page=2&apres=2026-01-01T00:00:00~5&page_size=50"
    saved = client.post("/admin/filtres", data={"name": "CQC envoyées de Dupont", "endpoint": "cqc_requests",
                                                "query": query})
    assert saved.status_code == 302 and saved.headers["Location"].startswith("/admin/cqc_requests/?")
    kept = SavedFilter.get(SavedFilter.staff == author.id)
    assert kept.query == "flt0_0=envoyee&search=Dupont&page_size=50"  # no page, no cursor
    assert "CQC envoyées de Dupont" in page(client) and "CQC envoyées de Dupont" in page(client, "/admin/cqc_requests/")
    opened = client.get(f"/admin/filtres/{kept.id}")
    assert opened.status_code == 302 and opened.headers["Location"] == "/admin/cqc_requests/?" + kept.query
    assert listed(client, opened.headers["Location"]) == dashboard_data.names_in(files, "E1", "E2")
    # The same name saves the new filters in its place.
    replaced = client.post("/admin/filtres", data={"name": "CQC envoyées de Dupont", "endpoint": "cqc_requests",
                                                   "query": "flt0_0=en_instruction"})
    assert "est enregistré" in page(client, replaced.headers["Location"])
    assert [s.query for s in SavedFilter.select()] == ["flt0_0=en_instruction"]
    client.post("/admin/deconnexion")

    login_staff(other)
    assert "CQC envoyées de Dupont" not in page(client) + page(client, "/admin/cqc_requests/")
    assert client.get(f"/admin/filtres/{kept.id}").status_code == 404
    assert client.post(f"/admin/filtres/{kept.id}/supprimer").status_code == 404
    assert SavedFilter.select().count() == 1
    client.post("/admin/deconnexion")

    login_staff(author)
    gone = client.post(f"/admin/filtres/{kept.id}/supprimer", data={"retour": "file"})
    assert gone.status_code == 302 and gone.headers["Location"] == "/admin/cqc_requests/"
    assert SavedFilter.select().count() == 0


def test_a_filter_needs_a_name_and_a_queue(client, files, agent):
    nameless = client.post("/admin/filtres", data={"name": " ", "endpoint": "cqc_requests", "query": "flt0_0=envoyee"})
    assert nameless.status_code == 302
    garbled = client.post("/admin/filtres", data={"name": "A\x07B", "endpoint": "cqc_requests", "query": ""})
    assert garbled.status_code == 302
    unknown = client.post("/admin/filtres", data={"name": "Audit", "endpoint": "audit", "query": ""})
    assert unknown.status_code == 302 and unknown.headers["Location"] == "/admin/"
    assert SavedFilter.select().count() == 0
    assert "Donnez un nom au filtre" in page(client, nameless.headers["Location"])


def test_public_accounts_and_visitors_reach_no_saved_filter(app, client, files, make_staff, login_user):
    saved = SavedFilter.create(staff=make_staff(), endpoint="cqc_requests", name="Mes CQC", query="")
    assert client.get(f"/admin/filtres/{saved.id}").status_code == 302  # to the staff login
    login_user(Dossier.get_by_id(files["E1"].id).user)
    for method, path in (("GET", f"/admin/filtres/{saved.id}"), ("POST", f"/admin/filtres/{saved.id}/supprimer"),
                         ("POST", "/admin/filtres")):
        assert client.open(path, method=method).status_code == 403
    assert SavedFilter.select().count() == 1 and not AuditLog.select().where(AuditLog.action ** "Export%").exists()


def test_the_procedures_are_named_by_their_label(client, files, agent):
    body = page(client)
    assert "Carte de qualification de conducteur (CQC)" in body
    assert ">CQC_PERTE<" not in body and "<li>CQC</li>" not in body


def test_the_waiting_cqc_file_is_counted_once_sent(client, make_driver, agent):
    driver = make_driver(state="active")
    record_for(make_centre(), driver)
    sent_request(driver)
    row = dashboard(page(client))[ProcedureCode.CQC]
    assert row["waiting"][0] == "1" and row["received"][0] == "1" and row["oldest"][0] == "< 1 h"
    assert CqcRequest.select().count() == 1


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="jeu de données national : PostgreSQL uniquement (DATABASE_URL)")
def test_the_national_data_set_dates_its_decisions_as_its_history(app, client, runner, make_staff, login_staff):
    assert runner.invoke(args=["demo-data", "--scale", "300"]).exit_code == 0
    decided = Dossier.select().where(Dossier.state.in_(["acceptee", "refusee"]))
    assert decided.count() > 0 and not decided.where(Dossier.decided_at.is_null()).exists()
    last = {e.dossier_id: e.at for e in DossierEvent.select(DossierEvent.dossier, fn.MAX(DossierEvent.at).alias("at"))
            .where(DossierEvent.event.in_(["accept", "reject"])).group_by(DossierEvent.dossier)}
    assert all(d.decided_at == last[d.id] for d in decided)
    login_staff(make_staff(role="local_admin"))
    table = dashboard(page(client))
    assert len(table) == 10 and int(table["CQC"]["waiting"][0].replace("\u202f", "")) > 0
