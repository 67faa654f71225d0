"""The Sirene register: SIRET checks, the local registry and its CSV loading, the INSEE API adapter."""
import io
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from models import Approval, Organisation, OrgKind, SireneEstablishment
from services import approvals, sirene

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FORMATRANS = "47728084603753"
CFA_LYON = "40073444800477"
ROUTIER_NORMAND = "44455566800045"
CLOSED = "51234567900017"
NO_APPROVAL = "79876543400039"
TRANSPORTS_MARTIN = "82345678500026"
#: Passes the SIREN check but not the SIRET check (last digit changed).
BAD_CHECKSUM = "47728084603754"

LENGTH_MESSAGE = "Le numéro de SIRET doit comporter 14 chiffres (SIREN 9 + NIC 5)."
CHECKSUM_MESSAGE = "Ce numéro de SIRET n'est pas valide : vérifiez sa saisie (clé de contrôle incorrecte)."


def approve(siret, category="Marchandises"):
    """Record an approval for this SIRET, the way staff do."""
    import datetime as dt

    return approvals.record(
        siret=siret, number=f"AGR-{siret[:4]}", category=category, trainings="FIMO,Passerelle,FCO",
        email=f"cfa-{siret}@exemple.fr", granted_on=dt.date(2021, 12, 28),
    )


# --- normalize_siret ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["47728084603753", "477 280 846 03753", " 477 280 846 03753 ", "477.280.846.03753", "477\u00a0280\u00a0846\u00a003753"],
)
def test_a_siret_is_typed_with_or_without_spaces_or_dots(typed):
    assert sirene.normalize_siret(typed) == FORMATRANS


@pytest.mark.parametrize("typed", ["4772808460375", "477280846037531", "477 280 846", "4772808460375A", "SIRET47728084603753", "47728-084603753"])
def test_a_siret_that_is_not_14_digits_is_refused(typed):
    with pytest.raises(sirene.InvalidSiret) as refused:
        sirene.normalize_siret(typed)
    assert str(refused.value) == LENGTH_MESSAGE


@pytest.mark.parametrize("typed", ["", "   ", None])
def test_an_empty_siret_asks_for_one(typed):
    with pytest.raises(sirene.InvalidSiret, match="Veuillez saisir le numéro de SIRET"):
        sirene.normalize_siret(typed)


@pytest.mark.parametrize("typed", [BAD_CHECKSUM, "477 280 846 03735", "12345678901234"])
def test_a_siret_with_a_wrong_checksum_is_refused(typed):
    with pytest.raises(sirene.InvalidSiret) as refused:
        sirene.normalize_siret(typed)
    assert str(refused.value) == CHECKSUM_MESSAGE
    # InvalidSiret is a ValueError, so the approvals CSV import can report it per line.
    assert isinstance(refused.value, ValueError)


def test_la_poste_sirets_follow_their_own_rule():
    # La Poste's head office passes Luhn; its other establishments have a digit sum that is a multiple of 5.
    assert sirene.normalize_siret("356 000 000 00048") == "35600000000048"
    assert sirene.normalize_siret("35600000049837") == "35600000049837"
    with pytest.raises(sirene.InvalidSiret, match="clé de contrôle"):
        sirene.normalize_siret("35600000000101")


# --- The local registry and its CSV --------------------------------------------------------------


def _csv(header, *lines):
    return io.StringIO("\n".join([header, *lines]) + "\n")


def test_the_sample_csv_loads_every_establishment(app):
    with open(os.path.join(REPO, "data", "sirene_sample.csv"), encoding="utf-8") as handle:
        assert sirene.load_csv(handle) == 7
    assert SireneEstablishment.select().count() == 7
    registry = sirene.LocalRegistry()
    formatrans = registry.lookup(FORMATRANS)
    assert formatrans == sirene.Establishment(FORMATRANS, "FORMATRANS", True, "12 RUE DES FRERES BEAUMONT 59000 LILLE")
    assert registry.lookup(CLOSED).active is False
    assert registry.lookup(CLOSED).name == "ANCIEN CENTRE DE FORMATION"
    assert registry.lookup("35600000000048") is None


def test_loading_twice_updates_rows_instead_of_adding_them(app, sirene_rows, clock):
    first = SireneEstablishment.get(SireneEstablishment.siret == FORMATRANS)
    clock.advance(days=1)
    with open(os.path.join(REPO, "data", "sirene_sample.csv"), encoding="utf-8") as handle:
        sirene.load_csv(handle)
    assert SireneEstablishment.select().count() == 7

    clock.advance(days=1)
    update = _csv(
        "siret,etatAdministratifEtablissement,denominationUsuelleEtablissement,codePostalEtablissement,libelleCommuneEtablissement",
        f"{FORMATRANS},F,FORMATRANS NORD,59800,LILLE",
        f"{CLOSED},A,ANCIEN CENTRE DE FORMATION,35000,RENNES",
    )
    assert sirene.load_csv(update) == 2
    assert SireneEstablishment.select().count() == 7
    row = SireneEstablishment.get(SireneEstablishment.siret == FORMATRANS)
    assert (row.state, row.name, row.postal_code) == ("F", "FORMATRANS NORD", "59800")
    assert row.id == first.id
    assert row.updated_at > first.updated_at
    assert sirene.LocalRegistry().lookup(FORMATRANS).active is False
    assert sirene.LocalRegistry().lookup(CLOSED).active is True


def test_loading_in_small_batches_gives_the_same_result(app):
    with open(os.path.join(REPO, "data", "sirene_sample.csv"), encoding="utf-8") as handle:
        assert sirene.load_csv(handle, batch=3) == 7
    assert SireneEstablishment.select().count() == 7


def test_a_siret_repeated_in_one_file_keeps_its_last_line(app):
    # A stock file followed by an update: the same SIRET twice in one batch, on both databases.
    content = _csv(
        "siret,etatAdministratifEtablissement,denominationUsuelleEtablissement",
        f"{FORMATRANS},A,FORMATRANS",
        f"{CFA_LYON},A,CFA LYON",
        f"{FORMATRANS},F,FORMATRANS FERME",
    )
    assert sirene.load_csv(content) == 3
    assert SireneEstablishment.select().count() == 2
    assert sirene.LocalRegistry().lookup(FORMATRANS) == sirene.Establishment(FORMATRANS, "FORMATRANS FERME", False, "")


def test_the_name_comes_from_the_legal_unit_first(app):
    sirene.load_csv(
        _csv(
            "siret,etatAdministratifEtablissement,denominationUniteLegale,denominationUsuelleEtablissement,enseigne1Etablissement",
            f"{FORMATRANS},A,FORMATRANS SAS,FORMATRANS,",
            f"{CFA_LYON},A,,,CFA LYON",
        )
    )
    assert sirene.LocalRegistry().lookup(FORMATRANS).name == "FORMATRANS SAS"
    assert sirene.LocalRegistry().lookup(CFA_LYON).name == "CFA LYON"


@pytest.mark.parametrize(
    "content, missing",
    [
        ("siren,nic,denominationUsuelleEtablissement\n477280846,03753,FORMATRANS\n", "etatAdministratifEtablissement, siret"),
        ("siret,denominationUsuelleEtablissement\n47728084603753,FORMATRANS\n", "etatAdministratifEtablissement"),
        ("", "etatAdministratifEtablissement, siret"),
    ],
)
def test_a_csv_without_the_required_columns_is_refused(app, content, missing):
    with pytest.raises(ValueError) as refused:
        sirene.load_csv(io.StringIO(content))
    assert str(refused.value) == "Colonnes manquantes dans le fichier Sirene : " + missing
    assert SireneEstablishment.select().count() == 0


def test_the_sirene_load_command_prints_the_count(app, runner, monkeypatch):
    monkeypatch.chdir(REPO)
    result = runner.invoke(args=["sirene-load", "data/sirene_sample.csv"])
    assert result.exit_code == 0, result.output
    assert "7 établissement(s) chargé(s) dans le registre Sirene local." in result.output
    assert SireneEstablishment.select().count() == 7


def test_the_sirene_load_command_reads_a_file_saved_with_a_bom(app, runner, tmp_path):
    path = tmp_path / "stock.csv"
    path.write_text(f"siret,etatAdministratifEtablissement,denominationUsuelleEtablissement\n{FORMATRANS},A,FORMATRANS\n", encoding="utf-8-sig")
    result = runner.invoke(args=["sirene-load", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 établissement(s) chargé(s)" in result.output
    assert sirene.LocalRegistry().lookup(FORMATRANS).name == "FORMATRANS"


def test_lookup_uses_the_local_registry_by_default(app, sirene_rows):
    assert app.config["SIRENE_BACKEND"] == "local"
    assert sirene.lookup(CFA_LYON).name == "CFA TRANSPORT VOYAGEURS"
    assert sirene.lookup("35600000000048") is None


# --- The INSEE API adapter, against a local server -----------------------------------------------


def _establishment(siret, name, state, *, closed_before=False):
    """Answer the way INSEE's API does for one establishment (only the fields the adapter reads, and a few more)."""
    periods = [{"dateFin": None, "dateDebut": "2020-01-01", "etatAdministratifEtablissement": state}]
    if closed_before:
        # An older period first, so the adapter must pick the current one (dateFin null), not the first.
        periods.insert(0, {"dateFin": "2019-12-31", "dateDebut": "2010-01-04", "etatAdministratifEtablissement": "F"})
    return {
        "header": {"statut": 200, "message": "ok"},
        "etablissement": {
            "siren": siret[:9],
            "nic": siret[9:],
            "siret": siret,
            "uniteLegale": {"denominationUniteLegale": name, "etatAdministratifUniteLegale": "A"},
            "adresseEtablissement": {
                "numeroVoieEtablissement": "12",
                "typeVoieEtablissement": "RUE",
                "libelleVoieEtablissement": "DES FRERES BEAUMONT",
                "codePostalEtablissement": "59000",
                "libelleCommuneEtablissement": "LILLE",
            },
            "periodesEtablissement": periods,
        },
    }


class FakeInsee:
    """A local HTTP server answering like /api-sirene/3.11/siret/{siret}; unknown SIRETs get 404."""

    KEY = "cle-integration-de-test"

    def __init__(self):
        self.answers = {}
        self.requests = []
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append({"path": self.path, "headers": self.headers})  # case-insensitive names
                prefix = "/api-sirene/3.11/siret/"
                siret = self.path[len(prefix):] if self.path.startswith(prefix) else ""
                status, body = fake.answers.get(siret, (404, {"header": {"statut": 404, "message": f"Aucun élément trouvé pour le siret {siret}"}}))
                if status == "slow":
                    fake.release.wait(5)
                    status, body = 200, body
                try:
                    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (time-out test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/api-sirene/3.11"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def insee(app):
    """Start the fake INSEE API and point the app at it."""
    with FakeInsee() as fake:
        app.config.update(
            SIRENE_BACKEND="api", SIRENE_API_URL=fake.base_url, SIRENE_API_KEY=FakeInsee.KEY, SIRENE_API_TIMEOUT=1
        )
        yield fake


def test_the_api_answers_an_active_establishment_with_its_name(insee):
    insee.answers[FORMATRANS] = (200, _establishment(FORMATRANS, "FORMATRANS", "A", closed_before=True))
    found = sirene.lookup(FORMATRANS)
    assert found == sirene.Establishment(FORMATRANS, "FORMATRANS", True, "12 RUE DES FRERES BEAUMONT 59000 LILLE")
    request = insee.requests[-1]
    assert request["path"] == f"/api-sirene/3.11/siret/{FORMATRANS}"
    assert request["headers"]["X-INSEE-Api-Key-Integration"] == FakeInsee.KEY
    assert request["headers"]["Accept"] == "application/json"


def test_the_api_answers_a_closed_establishment(insee):
    insee.answers[CLOSED] = (200, _establishment(CLOSED, "ANCIEN CENTRE DE FORMATION", "F"))
    found = sirene.lookup(CLOSED)
    assert found.active is False
    assert found.name == "ANCIEN CENTRE DE FORMATION"


def test_the_api_names_a_sole_trader_from_first_name_and_surname(insee):
    answer = _establishment(FORMATRANS, "", "A")
    answer["etablissement"]["uniteLegale"] = {"prenom1UniteLegale": "JEAN", "nomUniteLegale": "DUPONT"}
    insee.answers[FORMATRANS] = (200, answer)
    assert sirene.lookup(FORMATRANS).name == "JEAN DUPONT"


def test_an_unknown_siret_is_none(insee):
    assert sirene.lookup(CFA_LYON) is None
    assert insee.requests[-1]["path"].endswith(f"/siret/{CFA_LYON}")


@pytest.mark.parametrize(
    "status, message",
    [
        (429, "Le service de l'INSEE est momentanément saturé."),
        (500, "Le service de l'INSEE a répondu 500."),
        (403, "Le service de l'INSEE a répondu 403."),
    ],
)
def test_an_api_error_makes_the_register_unavailable(insee, status, message):
    insee.answers[FORMATRANS] = (status, {"fault": {"code": status}})
    with pytest.raises(sirene.SireneUnavailable) as unavailable:
        sirene.lookup(FORMATRANS)
    assert str(unavailable.value) == message


def test_an_answer_that_is_not_json_makes_the_register_unavailable(insee):
    insee.answers[FORMATRANS] = (200, b"<html>maintenance</html>")
    with pytest.raises(sirene.SireneUnavailable, match="ne répond pas"):
        sirene.lookup(FORMATRANS)


def test_a_slow_api_times_out(insee):
    insee.answers[FORMATRANS] = ("slow", _establishment(FORMATRANS, "FORMATRANS", "A"))
    with pytest.raises(sirene.SireneUnavailable, match="ne répond pas"):
        sirene.lookup(FORMATRANS)


def test_an_unreachable_api_makes_the_register_unavailable(app):
    with FakeInsee() as fake:
        url = fake.base_url
    # The server is closed: nobody listens on that port any more.
    adapter = sirene.InseeApi(url, "cle", 1)
    with pytest.raises(sirene.SireneUnavailable):
        adapter.lookup(FORMATRANS)


def test_the_adapter_reads_its_settings_from_the_configuration(insee):
    adapter = sirene.InseeApi.from_config()
    assert (adapter.base_url, adapter.key, adapter.timeout) == (insee.base_url, FakeInsee.KEY, 1)
    # A trailing slash in the configured URL does not double the separator.
    insee.answers[FORMATRANS] = (200, _establishment(FORMATRANS, "FORMATRANS", "A"))
    assert sirene.InseeApi(insee.base_url + "/", FakeInsee.KEY, 1).lookup(FORMATRANS).active
    assert insee.requests[-1]["path"] == f"/api-sirene/3.11/siret/{FORMATRANS}"


# --- The SIRET check of the creation form (JSON) -------------------------------------------------


def check(client, siret, profil="centre"):
    response = client.get("/creer-un-compte/siret", query_string={"profil": profil, "siret": siret})
    assert response.status_code == 200
    return response.get_json()


def test_an_eligible_centre_is_confirmed_with_its_name(client, sirene_rows):
    approve(FORMATRANS)
    answer = check(client, "477 280 846 03753")
    assert answer == {
        "ok": True,
        "siret": FORMATRANS,
        "name": "FORMATRANS",
        "message": "SIRET vérifié : établissement actif et éligible.",
    }


def test_each_refusal_says_why(client, sirene_rows):
    approve(CLOSED)  # an approval does not make a closed establishment eligible
    for typed, message in [
        ("", "Veuillez saisir le numéro de SIRET."),
        ("4772808460375", LENGTH_MESSAGE),
        (BAD_CHECKSUM, CHECKSUM_MESSAGE),
        ("35600000000048", "Ce numéro de SIRET est inconnu de la base INSEE (Sirene)."),
        (CLOSED, "Cet établissement est fermé dans la base INSEE (Sirene) : seul un SIRET actif permet de créer un compte."),
        (
            NO_APPROVAL,
            "Aucun agrément n'est enregistré pour ce SIRET dans le référentiel des agréments : "
            "un centre de formation doit disposer d'au moins un agrément.",
        ),
    ]:
        assert check(client, typed) == {"ok": False, "message": message}, typed


def test_a_siret_that_already_has_an_account_is_refused(client, sirene_rows):
    approve(FORMATRANS)
    Organisation.create(kind=OrgKind.CENTRE, siret=FORMATRANS, name="FORMATRANS")
    answer = check(client, "477 280 846 03753")
    assert answer["ok"] is False
    assert answer["message"] == "Un compte Hub Pro Transport existe déjà pour ce SIRET : un seul compte est possible par SIRET."


def test_a_transport_company_needs_no_approval(client, sirene_rows):
    assert not Approval.exists_for(TRANSPORTS_MARTIN)
    assert check(client, TRANSPORTS_MARTIN, profil="entreprise") == {
        "ok": True,
        "siret": TRANSPORTS_MARTIN,
        "name": "TRANSPORTS MARTIN ET FILS",
        "message": "SIRET vérifié : établissement actif et éligible.",
    }
    # The same SIRET asked as a centre lacks the approval.
    assert check(client, TRANSPORTS_MARTIN)["message"].startswith("Aucun agrément n'est enregistré")
    # An unknown profile is treated as a centre, the stricter case.
    assert check(client, TRANSPORTS_MARTIN, profil="autre")["ok"] is False


def test_the_check_works_with_the_api_backend(client, insee):
    # Nothing in the local registry: the answers come from the API.
    assert SireneEstablishment.select().count() == 0
    approve(FORMATRANS)
    approve(CLOSED)
    insee.answers[FORMATRANS] = (200, _establishment(FORMATRANS, "FORMATRANS SAS", "A"))
    insee.answers[CLOSED] = (200, _establishment(CLOSED, "ANCIEN CENTRE", "F"))
    insee.answers[ROUTIER_NORMAND] = (429, {"fault": "Too Many Requests"})

    answer = check(client, FORMATRANS)
    assert (answer["ok"], answer["name"]) == (True, "FORMATRANS SAS")
    assert insee.requests[-1]["headers"]["X-INSEE-Api-Key-Integration"] == FakeInsee.KEY

    assert check(client, CLOSED)["message"].startswith("Cet établissement est fermé")
    assert check(client, CFA_LYON)["message"] == "Ce numéro de SIRET est inconnu de la base INSEE (Sirene)."
    busy = check(client, ROUTIER_NORMAND)
    assert busy["ok"] is False
    assert busy["message"] == (
        "Le service de l'INSEE est momentanément saturé. "
        "Le contrôle du SIRET est impossible pour l'instant : réessayez dans quelques minutes."
    )


def test_the_api_is_not_asked_about_an_invalid_or_already_registered_siret(client, insee):
    Organisation.create(kind=OrgKind.CENTRE, siret=FORMATRANS, name="FORMATRANS")
    assert check(client, BAD_CHECKSUM)["message"] == CHECKSUM_MESSAGE
    assert check(client, FORMATRANS)["message"].startswith("Un compte Hub Pro Transport existe déjà")
    assert insee.requests == []
