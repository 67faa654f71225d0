"""The INSEE Sirene register: is an establishment known, active, and what is its name?

Two adapters answer the same question: the local registry table (the default, loaded from a CSV
in INSEE's « StockEtablissement » layout) and the INSEE API (SIRENE_BACKEND = "api").
"""
import csv
import json
import socket
import urllib.error
import urllib.request
from typing import NamedTuple

from flask import current_app
from stdnum import exceptions as stdnum_errors
from stdnum.fr import siret as stdnum_siret

from models import SireneEstablishment, db
from models import clock


class Establishment(NamedTuple):
    siret: str
    name: str
    active: bool
    address: str = ""


class SireneUnavailable(Exception):
    """The register could not answer now (rate limit, time-out, server error)."""


class InvalidSiret(ValueError):
    """A SIRET that is not 14 digits or fails its checksum; the message is for the user."""


def normalize_siret(raw):
    """Return the 14 digits of a SIRET typed with or without spaces or dots, checksum verified."""
    digits = "".join(ch for ch in (raw or "") if not ch.isspace() and ch != ".")
    if not digits:
        raise InvalidSiret("Veuillez saisir le numéro de SIRET.")
    if not digits.isdigit() or len(digits) != 14:
        raise InvalidSiret("Le numéro de SIRET doit comporter 14 chiffres (SIREN 9 + NIC 5).")
    try:
        return stdnum_siret.validate(digits)
    except stdnum_errors.ValidationError:
        raise InvalidSiret("Ce numéro de SIRET n'est pas valide : vérifiez sa saisie (clé de contrôle incorrecte).")


def lookup(siret):
    """Return the establishment with this SIRET, None if the register does not know it."""
    if current_app.config["SIRENE_BACKEND"] == "api":
        return InseeApi.from_config().lookup(siret)
    return LocalRegistry().lookup(siret)


class LocalRegistry:
    """The local copy of the register (table SireneEstablishment)."""

    def lookup(self, siret):
        row = SireneEstablishment.get_or_none(SireneEstablishment.siret == siret)
        if row is None:
            return None
        address = " ".join(part for part in (row.address, row.postal_code, row.city) if part)
        return Establishment(row.siret, row.name, row.state == "A", address)


class InseeApi:
    """INSEE's API: GET {base}/siret/{siret} with the integration key header."""

    def __init__(self, base_url, key, timeout):
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout

    @classmethod
    def from_config(cls):
        config = current_app.config
        return cls(config["SIRENE_API_URL"], config["SIRENE_API_KEY"], config["SIRENE_API_TIMEOUT"])

    def lookup(self, siret):
        request = urllib.request.Request(
            f"{self.base_url}/siret/{siret}",
            headers={"Accept": "application/json", "X-INSEE-Api-Key-Integration": self.key},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = json.load(response)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            if error.code == 429:
                raise SireneUnavailable("Le service de l'INSEE est momentanément saturé.") from error
            raise SireneUnavailable(f"Le service de l'INSEE a répondu {error.code}.") from error
        except (urllib.error.URLError, socket.timeout, TimeoutError, ValueError) as error:
            raise SireneUnavailable("Le service de l'INSEE ne répond pas.") from error
        return _from_api(siret, payload.get("etablissement") or {})


def _from_api(siret, data):
    periods = data.get("periodesEtablissement") or []
    current = next((p for p in periods if p.get("dateFin") is None), periods[0] if periods else {})
    unit = data.get("uniteLegale") or {}
    name = (
        unit.get("denominationUniteLegale")
        or " ".join(filter(None, (unit.get("prenom1UniteLegale"), unit.get("nomUniteLegale"))))
        or current.get("denominationUsuelleEtablissement")
        or ""
    )
    address = data.get("adresseEtablissement") or {}
    street = " ".join(
        filter(None, (address.get(k) for k in ("numeroVoieEtablissement", "typeVoieEtablissement", "libelleVoieEtablissement")))
    )
    place = " ".join(filter(None, (address.get("codePostalEtablissement"), address.get("libelleCommuneEtablissement"))))
    return Establishment(siret, name, current.get("etatAdministratifEtablissement") == "A", " ".join(filter(None, (street, place))))


def _row_from_csv(record):
    street = " ".join(
        filter(None, (record.get(k, "").strip() for k in ("numeroVoieEtablissement", "typeVoieEtablissement", "libelleVoieEtablissement")))
    )
    name = next(
        (record.get(k, "").strip() for k in ("denominationUniteLegale", "denominationUsuelleEtablissement", "enseigne1Etablissement") if record.get(k, "").strip()),
        "",
    )
    return {
        "siret": record["siret"].strip(),
        "name": name,
        "state": (record.get("etatAdministratifEtablissement") or "A").strip() or "A",
        "address": street,
        "postal_code": (record.get("codePostalEtablissement") or "").strip(),
        "city": (record.get("libelleCommuneEtablissement") or "").strip(),
        "updated_at": clock.now(),
    }


def load_csv(handle, batch=500):
    """Load (insert or update) the rows of a StockEtablissement CSV; return how many were read."""
    reader = csv.DictReader(handle)
    missing = {"siret", "etatAdministratifEtablissement"} - set(reader.fieldnames or [])
    if missing:
        raise ValueError("Colonnes manquantes dans le fichier Sirene : " + ", ".join(sorted(missing)))
    count = 0
    rows = {}
    for record in reader:
        row = _row_from_csv(record)
        # A SIRET repeated within one batch: the later line wins (PostgreSQL refuses to upsert a row twice).
        rows[row["siret"]] = row
        count += 1
        if len(rows) >= batch:
            _upsert(list(rows.values()))
            rows = {}
    if rows:
        _upsert(list(rows.values()))
    return count


def _upsert(rows):
    fields = ["name", "state", "address", "postal_code", "city", "updated_at"]
    with db.atomic():
        (
            SireneEstablishment.insert_many(rows)
            .on_conflict(conflict_target=[SireneEstablishment.siret], preserve=[getattr(SireneEstablishment, f) for f in fields])
            .execute()
        )
    return len(rows)
