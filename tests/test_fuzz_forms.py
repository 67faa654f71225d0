"""Property-based fuzzing of every public form (issue 11): whatever a visitor or a holder types into any field, or
names and puts in any file, no page answers 500, on SQLite and PostgreSQL.

The forms are found from the application's url_map: every POST rule of the portal is fuzzed here or named in
NOT_FUZZED with the reason, and every step of every procedure in services.procedures.REGISTRY is fuzzed, so that a
new form or step fails test_every_public_form_is_fuzzed until it is covered. The fields are those of the page as a
browser receives it (each input, select, textarea and named button of the form); each is posted either a value the
form accepts or a hostile one, so that hostile values also travel past the checks of the other fields.
"""
import datetime as dt
import os
import secrets
from collections import Counter
from decimal import Decimal
from functools import cached_property
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import (
    AccountState, Anomaly, Approval, Card, CardState, Contract, Dossier, OrgKind, Organisation, ProcedureCode,
    Replacement, RequestState, Role, StaffRole, Tariff, Token, TokenPurpose,
)
from services import accounts, cards, dossiers, procedures, tokens
from services.procedures import replacements
from tests.conftest import TEST_PASSWORD
from tests.cqc_files import PDF, PNG, make_member
from tests.driver_data import JPEG, complete_request, fast_pdfs, make_centre, record
from tests.tachy_data import (
    SUD, accepted, company_driver, company_under_contract, sent_driver_card, tachy_tariffs,
)

#: Examples per form: a base, and more for each field (at most MAX_EXAMPLES). FUZZ_EXAMPLES scales them all.
SCALE = float(os.environ.get("FUZZ_EXAMPLES", "1"))
BASE_EXAMPLES, PER_FIELD, MAX_EXAMPLES = 20, 12, 150

#: Blueprints whose POST rules are not fuzzed here, with why.
NOT_FUZZED = {
    "payments": "the payment provider's notifications and returns, fuzzed with the payments",
    "sandbox": "the payment provider's sandbox, not part of the portal in production",
}

FORMATRANS = "47728084603753"
TRANSPORTS_MARTIN = "82345678500026"

#: Values each field accepts, by field name: a hostile value in one field then meets valid ones in the others.
VALID = {
    "last_name": "Martin", "first_name": "Anne", "birth_date-day": "19",
    "birth_date-month": "08", "birth_date-year": "1991", "birth_place": "Lille",
    "birth_country": "France", "licence_number": "13AA00002", "mobile": "06 12 34 56 78",
    "address": "12 rue des Lilas", "address_extra": "Bât. B", "postal_code": "59000", "city": "Lille",
    "email": "anne.martin@exemple.fr", "email_confirm": "anne.martin@exemple.fr", "function": "Gestionnaire",
    "phone": "03 20 00 00 01", "password": "Une-phrase-de-passe-42", "confirm": "Une-phrase-de-passe-42",
    "siret": FORMATRANS, "organisation_name": "", "start_date-day": "01", "start_date-month": "02",
    "start_date-year": "2026", "end_date-day": "28", "end_date-month": "02", "end_date-year": "2026",
    "delivery_name": "Anne MARTIN", "delivery_address": "3 place du Général de Gaulle", "delivery_address_extra": "",
    "delivery_postal_code": "59800", "delivery_city": "Lille", "billing_name": "TRANSPORTS MARTIN",
    "billing_address": "5 ZA des Peupliers", "billing_address_extra": "", "billing_postal_code": "59128",
    "billing_city": "Flers-en-Escrebieux", "legal_last_name": "Martin", "legal_first_name": "Jean",
    "legal_function": "Gérant", "contact_name": "Service comptable", "contact_email": "compta@exemple.fr",
    "contact_phone": "0327000000", "card_count": "2", "circumstances": "Perdue au dépôt de Lille.",
}

#: What people and attackers type: control characters, bidirectional marks, emoji, huge and SQL or HTML texts.
HOSTILE = [
    "", " ", "\x00", "Van\x00nest", "a\r\nb", "\t", "\x1b[31m", "\x7f", "\x0b\x0c", "\u202eevil\u202c", "\u200f\u200e",
    "\ufeff", "😀" * 50, "👨‍👩‍👧" * 30, "x" * 10_000, "é" * 256, "a" * 255, "a" * 256, "' OR '1'='1' --",
    "'; DROP TABLE users; --", "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "{{7*7}}", "%00",
    "../../etc/passwd", "99999999999999999999", "-1", "0", "1e400", "NaN", "9" * 5000, "31/02/2024", "0000-00-00",
    "2024-13-45", "01/01/0001", "31/12/9999", "١٢٣٤٥", "ＡＢＣ", "null", "undefined", "@", "a@b", "a" * 250 + "@x.fr",
]
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
HOSTILE_TEXT = st.one_of(st.sampled_from(HOSTILE), TEXT, st.text(st.characters(max_codepoint=0x7F), min_size=240,
                                                                  max_size=300))
#: Files as a browser or a script sends them: what they hold, what they are called, what the browser says they are.
CONTENTS = [JPEG, PNG, PDF, b"", b"texte", b"%PDF", b"\xff\xd8", PDF + b"\x00" * 1000, b"MZ\x90\x00", b"<html></html>",
            b"GIF89a" + b"\x00" * 20]
NAMES = ["photo.jpg", "photo.png", "scan.pdf", "scan.PDF", "photo.jpg\r\nX-Injected: 1", "a\rb.pdf", "\x00.pdf",
         "../../etc/passwd", "..\\..\\boot.ini", "\u202egpj.exe", "photo", ".pdf", "a" * 500 + ".pdf", "名前.pdf",
         'guil"lemets.pdf', "scan.pdf.exe", "photo.jpeg", " ", "con.pdf", "%0D%0A.pdf"]
TYPES = ["", "application/pdf", "image/jpeg", "image/png", "application/octet-stream", "text/html", "image/jpg",
         "x\r\ny"]
FILES = st.tuples(st.sampled_from(CONTENTS), st.one_of(st.sampled_from(NAMES), TEXT), st.sampled_from(TYPES))


# --- What a page's forms ask for -------------------------------------------------------------------------


class Forms(HTMLParser):
    """The POST forms of a page: {action path: {field name: {"kind": …, "values": [values offered]}}}."""

    def __init__(self, url):
        super().__init__()
        self.url, self.forms, self.current, self.select = url, {}, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            post = (attrs.get("method") or "get").lower() == "post"
            action = urlsplit(urljoin(self.url, attrs.get("action") or self.url)).path
            self.current = self.forms.setdefault(action, {}) if post else None
        elif self.current is not None and tag in ("input", "select", "textarea", "button") and attrs.get("name"):
            kind = (attrs.get("type") or "text").lower() if tag == "input" else tag
            field = self.current.setdefault(attrs["name"], {"kind": kind, "values": []})
            if kind in ("radio", "checkbox", "button", "submit", "hidden") and attrs.get("value") is not None:
                field["values"].append(attrs["value"])
            elif attrs.get("value"):
                field["prefilled"] = attrs["value"]
            self.select = field if tag == "select" else None
        elif tag == "option" and self.select is not None and attrs.get("value") is not None:
            self.select["values"].append(attrs["value"])

    def handle_endtag(self, tag):
        if tag == "form":
            self.current = None
        elif tag == "select":
            self.select = None


def form_fields(client, page, action):
    """Return the fields of the form posting to `action` on `page` (the CSRF token aside)."""
    response = client.get(page)
    assert response.status_code == 200, (page, response.status_code)
    parser = Forms(page)
    parser.feed(response.get_data(as_text=True))
    path = urlsplit(action).path
    assert path in parser.forms, f"no form posting to {path} on {page}"
    return {name: field for name, field in parser.forms[path].items() if name != "csrf_token"}


# --- Hostile posts -----------------------------------------------------------------------------------------------


def valid_value(name, field, valid):
    """Return a value the form accepts for a field: one it offers, the one it shows, else one of `valid`."""
    if field.get("values"):
        return field["values"][-1] if field["kind"] in ("button", "submit", "select") else field["values"][0]
    return valid.get(name) or field.get("prefilled") or valid.get(name.split(":")[-1], "x")


@st.composite
def submissions(draw, fields, valid):
    """Draw a form's submission: each field left out, given a valid value or a hostile one (alone or after a valid
    one); an address and its confirmation stay a pair, a fresh one each time, so that accounts get created with
    hostile values in the other fields."""
    data, files = {}, {}
    for name, field in fields.items():
        choice = draw(st.sampled_from(["valid", "valid", "hostile", "missing"]))
        if field["kind"] == "file":
            if choice != "missing":
                files[name] = draw(FILES)
        elif choice == "valid":
            data[name] = valid_value(name, field, valid)
        elif choice == "hostile":
            offered = st.sampled_from(field["values"]) if field.get("values") else st.nothing()
            after_valid = HOSTILE_TEXT.map(lambda text, good=valid_value(name, field, valid): good + text)
            data[name] = draw(st.one_of(HOSTILE_TEXT, offered, after_valid))
    if "email_confirm" in fields and data.get("email") == data.get("email_confirm") == valid["email"]:
        data["email"] = data["email_confirm"] = f"fuzz-{secrets.token_hex(6)}@exemple.fr"
    if draw(st.booleans()) and draw(st.booleans()):
        data[draw(st.sampled_from(["action", "x" * 300, "\x00", "csrf_token", "id"]))] = draw(HOSTILE_TEXT)
    return data, files


def multipart(data, files):
    """Return (body, content type) of a multipart post, file names written as RFC 2231 allows (any character)."""
    boundary = "HubProFuzz" + secrets.token_hex(16)
    parts = []
    for name, value in data.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{quote(name)}"\r\n\r\n'.encode()
                     + value.encode("utf-8", "surrogatepass") + b"\r\n")
    for name, (content, filename, content_type) in files.items():
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{quote(name)}"; '
                f"filename*=UTF-8''{quote(filename, safe='')}\r\n")
        if content_type and "\r" not in content_type:
            head += f"Content-Type: {content_type}\r\n"
        parts.append(head.encode() + b"\r\n" + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def fuzz(client, page, action, valid=VALID, reopen=None):
    """Post hypothesis's submissions to a form and check none answers 500; return its fields and the statuses."""
    fields = form_fields(client, page, action)
    count = max(5, int(min(MAX_EXAMPLES, BASE_EXAMPLES + PER_FIELD * len(fields)) * SCALE))
    posted = []

    @settings(max_examples=count, deadline=None, database=None, derandomize=False,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(submissions(fields, valid))
    def post(submission):
        data, files = submission
        if reopen is not None:
            reopen()
        if any(field["kind"] == "file" for field in fields.values()):
            body, content_type = multipart(data, files)
            response = client.post(action, data=body, content_type=content_type)
        else:
            response = client.post(action, data=data)
        posted.append(response.status_code)
        assert response.status_code < 500, (action, data, {k: (v[1], v[2]) for k, v in files.items()})

    post()
    return fields, posted


# --- The accounts and files the forms need ------------------------------------------------------------------------


class World:
    """The accounts and files a form needs, built through the services when first asked for."""

    def __init__(self, app, make_driver, make_staff):
        self.app, self.make_driver = app, make_driver
        #: The valid values of the forms: a form may need its own (an existing account's address).
        self.valid = dict(VALID)
        self.staff = make_staff(role=StaffRole.LOCAL_ADMIN, procedures=list(ProcedureCode))
        tachy_tariffs()
        for product, amount in (("CQC_REMPLACEMENT", "28.24"), ("REEXPEDITION", "6.50"), ("CQC", "60.00")):
            Tariff.create(product=product, amount_ht=Decimal(amount), vat_rate=Decimal("20"),
                          start_date=dt.date(2023, 1, 1))

    def client(self, account=None):
        """Return a new browser, logged in as this account if one is given."""
        client = self.app.test_client()
        if account is not None:
            response = client.post("/connexion", data={"email": account.email, "password": TEST_PASSWORD})
            assert response.status_code == 302, account.email
        return client

    @cached_property
    def driver(self):
        user = self.make_driver(state="active", last_name="Martin", first_name="Anne", licence_number="942981379228")
        record(make_centre(), user)
        return user

    def card(self, state=CardState.LIVREE):
        """Return the driver's CQC, ordered by an accepted request and moved to this state."""
        dossier = complete_request(self.driver)
        dossiers.take(dossier, self.staff)
        card = dossiers.accept(dossier, self.staff)
        cards.move(card, "ship", staff=self.staff)
        cards.move(Card.get_by_id(card.id), "return" if state == CardState.PND else "deliver", staff=self.staff)
        return Card.get_by_id(card.id)

    @cached_property
    def company(self):
        """(company under a numbered TACHY contract, its administrator, its manager)."""
        return company_under_contract(self.staff, siret=TRANSPORTS_MARTIN)

    @cached_property
    def centre(self):
        """(approved training centre, its administrator)."""
        centre = Organisation.create(kind=OrgKind.CENTRE, siret=FORMATRANS, name="FORMATRANS")
        Approval.create(siret=FORMATRANS, number="AGR-Mar", category="Marchandises", trainings="FIMO,Passerelle,FCO",
                        email="dreal@exemple.fr", granted_on=dt.date(2021, 12, 28))
        return centre, make_member(centre, Role.ORG_ADMIN)

    def asked(self, dossier):
        """Send a file back to its holder asking for every field and document it has."""
        declaration = procedures.of(dossier)
        dossiers.take(Dossier.get_by_id(dossier.id), self.staff)
        items = {**{name: "À corriger" for name in declaration.askable_fields},
                 **{f"document:{kind}": "Illisible" for kind in declaration.documents}}
        dossiers.ask_info(Dossier.get_by_id(dossier.id), self.staff, items)
        return Dossier.get_by_id(dossier.id)


def _replacement(reason):
    def draft(world):
        world.card()
        return world.driver, dossiers.start(replacements.CODES[reason], world.driver)

    return draft


def _pnd(world):
    card = world.card(CardState.PND)
    address = {name: VALID[name] for name in ("delivery_address", "delivery_address_extra", "delivery_postal_code",
                                              "delivery_city")}
    return world.driver, dossiers.start(ProcedureCode.CQC_PND, world.driver, card=card, address=address)


def _contract(kind, siret):
    def draft(world):
        organisation = Organisation.create(kind=kind, siret=siret, name=f"FUZZ {kind}")
        admin = make_member(organisation, Role.ORG_ADMIN)
        code = ProcedureCode.CONTRAT_TACHY if kind == OrgKind.COMPANY else ProcedureCode.CONTRAT_CQC
        return admin, dossiers.start(code, admin)

    return draft


def _driver_card(world):
    company, _, manager = world.company
    driver = company_driver(company)
    return manager, dossiers.start(ProcedureCode.TACHY_CONDUCTEUR, manager, company_driver=driver, reason="premiere")


#: A draft of each procedure, with its holder: what its wizard's steps are fuzzed on.
DRAFTS = {
    ProcedureCode.CQC: lambda world: (world.driver, dossiers.start(ProcedureCode.CQC, world.driver)),
    **{code: _replacement(reason) for reason, code in replacements.CODES.items()},
    ProcedureCode.CQC_PND: _pnd,
    ProcedureCode.CONTRAT_TACHY: _contract(OrgKind.COMPANY, SUD),
    ProcedureCode.CONTRAT_CQC: _contract(OrgKind.CENTRE, "47728084600017"),
    ProcedureCode.TACHY_CONDUCTEUR: _driver_card,
    ProcedureCode.TACHY_ENTREPRISE: lambda world: (world.company[1],
                                                   dossiers.start(ProcedureCode.TACHY_ENTREPRISE, world.company[1])),
}


def _filled_contract(admin, dossier):
    """Fill a contract draft in and send it."""
    Contract.update(**{name: VALID[name] for name in ("legal_last_name", "legal_first_name", "legal_function",
                                                      "billing_name", "billing_address", "billing_postal_code",
                                                      "billing_city", "contact_name", "contact_email",
                                                      "contact_phone")},
                    conditions_accepted=True).where(Contract.dossier == dossier.id).execute()
    dossiers.validate(Dossier.get_by_id(dossier.id), admin)
    return Dossier.get_by_id(dossier.id)


def _sent_contract(world):
    admin, dossier = _contract(OrgKind.CENTRE, "47728084600017")(world)
    return admin, _filled_contract(admin, dossier)


#: A file sent and asked about, of a procedure of each blueprint with « Répondre ».
ASKED = {
    "requests": lambda world: (world.driver, complete_request(world.driver)),
    "tachographs": lambda world: (world.company[2], sent_driver_card(world.company[2], company_driver(world.company[0]))),
    "contract": _sent_contract,
}


def every_step_open(code, world):
    """Return (holder, draft) of a procedure whose every step may be opened (as if the last one was reached)."""
    holder, dossier = DRAFTS[code](world)
    model = procedures.get(code).data_model
    model.update(step=procedures.get(code).step_names[-1]).where(model.dossier == dossier.id).execute()
    return holder, dossier


def _step_target(code, step):
    def target(world):
        holder, dossier = every_step_open(code, world)
        url = f"{_prefix(procedures.get(code).pages)}/{dossier.id}/etapes/{step}"
        return world.client(holder), url, url

    return target


def _prefix(blueprint):
    return {"requests": "/mes-demandes", "replacements": "/mes-demandes/remplacement",
            "tachographs": "/mes-demandes/tachygraphe", "contract": "/mon-contrat"}[blueprint]


def _answer_target(blueprint):
    def target(world):
        holder, dossier = ASKED[blueprint](world)
        url = f"{_prefix(blueprint)}/{world.asked(dossier).id}/repondre"
        return world.client(holder), url, url, lambda: _ask_again(dossier)

    return target


def _ask_again(dossier):
    """Put a file answered by an example back to « attente de complément », every item asked again."""
    Dossier.update(state=RequestState.ATTENTE_COMPLEMENT).where(Dossier.id == dossier.id).execute()
    Anomaly.update(corrected_at=None).where(Anomaly.dossier == dossier.id).execute()


def _cancel_target(code, page):
    def target(world):
        holder, dossier = DRAFTS[code](world)
        return world.client(holder), page, f"{_prefix(procedures.get(code).pages)}/{dossier.id}/annuler"

    return target


def _quality_answer(world):
    holder, dossier = _replacement(replacements.ReplacementReason.QUALITE)(world)
    Replacement.update(defects="Photo", **{name: VALID[name] for name in replacements.BILLING_FIELDS}).where(
        Replacement.dossier == dossier.id).execute()
    dossiers.validate(Dossier.get_by_id(dossier.id), holder)
    dossiers.take(Dossier.get_by_id(dossier.id), world.staff)
    replacements.record_reception(Dossier.get_by_id(dossier.id), world.staff)
    replacements.decide_quality(Dossier.get_by_id(dossier.id), world.staff, "conducteur", "Photo floue.")
    url = f"/mes-demandes/remplacement/{dossier.id}/repondre"
    return world.client(holder), url, url


def _token(purpose, account):
    return tokens.issue(purpose, user=account)


def _links_unused():
    """Make the links an example used work again: each example then meets the form, not « lien déjà utilisé »."""
    Token.update(used_at=None).execute()


def _correction(world):
    user = world.make_driver(state="en_analyse")
    accounts.reject(Dossier.account_of(user), world.staff, {name: "À corriger" for name in (
        "last_name", "first_name", "birth_date", "birth_place", "licence_number", "address", "postal_code", "city")})
    url = f"/creer-un-compte/a-corriger/{_token(TokenPurpose.CORRECTION, user)}"

    def reopen():
        _links_unused()
        account = Dossier.account_of(user)
        Dossier.update(state=AccountState.A_CORRIGER).where(Dossier.id == account.id).execute()
        Anomaly.update(corrected_at=None).where(Anomaly.dossier == account.id).execute()

    return world.client(), url, url, reopen


def _password(world):
    url = f"/mot-de-passe/{_token(TokenPurpose.CREATE_PASSWORD, world.make_driver(state='conforme'))}/saisie"
    return world.client(), url, url, _links_unused


def _unlock(world):
    url = f"/deblocage/{_token(TokenPurpose.UNLOCK, world.driver)}"
    return world.client(), url, url, _links_unused


def _member(world):
    """A manager designated by the company's administrator who has not created a password yet."""
    from services import members

    company, admin, _ = world.company
    return members.designate(company, admin, {"last_name": "Vannest", "first_name": "Philippe",
                                              "function": "Gestionnaire", "phone": "0320000001",
                                              "email": "p.vannest@exemple.fr"}, admin=False)


def _page(url, holder, action=None):
    """A form on a page for an account (a function of the world), posting to itself or to `action`."""

    def target(world):
        account = holder(world) if holder else None
        return world.client(account), url, action(world) if callable(action) else (action or url)

    return target


DRIVER = lambda world: world.driver  # noqa: E731
COMPANY_ADMIN = lambda world: world.company[1]  # noqa: E731
COMPANY_MANAGER = lambda world: world.company[2]  # noqa: E731
CENTRE_ADMIN = lambda world: world.centre[1]  # noqa: E731


def _with(setup, holder, url, action=None):
    """A form needing more of the world than its account: `setup(world)` returns what `action` is built from."""

    def target(world):
        made = setup(world)
        return (world.client(holder(world) if holder else None), url(made) if callable(url) else url,
                action(made) if action else None)

    return target


def _login(world):
    world.valid.update(email=world.driver.email, password="Mauvais-mot-de-passe-1")


def _sirene(world):
    """Load the sample Sirene registry and approve the centre of the sample (its account may then be created)."""
    from services import demo, sirene

    with open(demo.SAMPLE_CSV, encoding="utf-8") as handle:
        sirene.load_csv(handle)
    Approval.create(siret=FORMATRANS, number="AGR-Mar", category="Marchandises", trainings="FIMO,Passerelle,FCO",
                    email="dreal@exemple.fr", granted_on=dt.date(2021, 12, 28))


def _numbered_centre(world):
    """The centre under a numbered CQC contract: it may invite other centres to attach to it."""
    from services import organisations

    admin = world.centre[1]
    dossier = _filled_contract(admin, dossiers.start(ProcedureCode.CONTRAT_CQC, admin))
    dossiers.take(Dossier.get_by_id(dossier.id), world.staff)
    organisations.give_number(Dossier.get_by_id(dossier.id), world.staff, "CQC-2026-00001")
    world.valid["siret"] = "47728084600025"


def _pnd_page(world):
    """The driver's card back as « pli non distribué », again before each example (an example may solve it)."""
    card = world.card(CardState.PND)
    url = f"/mes-cartes/{card.id}/pli-non-distribue"
    return world.client(world.driver), url, url, lambda: Card.update(state=CardState.PND).where(
        Card.id == card.id).execute()


def _company_pnd_card(world):
    """A driver card the company ordered, shipped and returned by La Poste."""
    company, _, manager = world.company
    card = accepted(sent_driver_card(manager, company_driver(company)), world.staff)[0]
    cards.move(card, "ship", staff=world.staff)
    cards.move(Card.get_by_id(card.id), "return", staff=world.staff)
    return card


#: Every form of the portal: id -> (endpoint, how to reach it: (client, page showing the form, action)).
TARGETS = {
    "login": ("auth.login", _with(_login, None, "/connexion")),
    "forgot": ("auth.forgot", _page("/mot-de-passe-oublie", None)),
    "logout": ("auth.logout", _page("/", DRIVER, "/deconnexion")),
    "unlock": ("auth.unlock", _unlock),
    "password": ("password.choose", _password),
    "driver-account": ("accounts.driver", _page("/creer-un-compte/particulier", None)),
    "centre-account": ("accounts.organisation", _with(_sirene, None, f"/creer-un-compte/centre?siret={FORMATRANS}")),
    "company-account": ("accounts.organisation", _with(_sirene, None,
                                                       f"/creer-un-compte/entreprise?siret={TRANSPORTS_MARTIN}")),
    "correction": ("accounts.correct", _correction),
    "cqc-start": ("requests.cqc", _page("/mes-demandes/cqc", DRIVER)),
    "replacement-start": ("replacements.index",
                          _with(lambda world: world.card(), DRIVER, "/mes-demandes/remplacement/")),
    "quality-answer": ("replacements.answer", _quality_answer),
    "card-activate": ("cards.activate", _with(lambda world: world.card(), DRIVER, "/mes-cartes/",
                                              lambda card: f"/mes-cartes/{card.id}/activer")),
    "card-pnd": ("cards.pnd", _pnd_page),
    "card-confirm-address": ("cards.confirm_address", _with(_company_pnd_card, COMPANY_MANAGER, "/mes-cartes/",
                                                            lambda card: f"/mes-cartes/{card.id}/confirmer-adresse")),
    "manager-add": ("managers.add", _page("/mes-gestionnaires/ajouter", COMPANY_ADMIN)),
    "manager-edit": ("managers.edit", _with(_member, COMPANY_ADMIN, lambda m: f"/mes-gestionnaires/{m.id}/modifier",
                                            lambda m: f"/mes-gestionnaires/{m.id}/modifier")),
    "manager-resend": ("managers.resend", _with(_member, COMPANY_ADMIN, "/mes-gestionnaires/",
                                                lambda m: f"/mes-gestionnaires/{m.id}/renvoyer")),
    "manager-delete": ("managers.delete", _with(_member, COMPANY_ADMIN, "/mes-gestionnaires/",
                                                lambda m: f"/mes-gestionnaires/{m.id}/supprimer")),
    "drivers-add": ("drivers.index", _page("/mes-conducteurs/", COMPANY_MANAGER)),
    "drivers-import": ("drivers.import_file", _page("/mes-conducteurs/", COMPANY_MANAGER, "/mes-conducteurs/import")),
    "drivers-edit": ("drivers.edit", _with(lambda world: company_driver(world.company[0]), COMPANY_MANAGER,
                                           lambda d: f"/mes-conducteurs/{d.id}/modifier",
                                           lambda d: f"/mes-conducteurs/{d.id}/modifier")),
    "tachy-driver-start": ("tachographs.driver_card", _with(lambda world: company_driver(world.company[0]),
                                                            COMPANY_MANAGER, "/mes-demandes/tachygraphe/conducteur")),
    "tachy-company-start": ("tachographs.company_card", _page("/mes-demandes/tachygraphe/entreprise", COMPANY_ADMIN)),
    "contract-start": ("contract.index", _page("/mon-contrat/", CENTRE_ADMIN)),
    "contract-invite": ("contract.invite", _with(_numbered_centre, CENTRE_ADMIN, "/mon-contrat/",
                                                 lambda made: "/mon-contrat/etablissements-rattaches")),
    "centre-trainings": ("centre.trainings", _page("/centre/formations", CENTRE_ADMIN)),
    "data-export": ("home.request_data_export", _page("/mon-compte", DRIVER, "/mon-compte/mes-donnees")),
    # A wrong password never closes the account (the valid one the fuzzer sends is not the holder's).
    "close-account": ("home.close_account", _page("/mon-compte/fermer", DRIVER)),
    "cancel-cqc": ("requests.cancel", _cancel_target(ProcedureCode.CQC, "/mes-demandes/?rubrique=en-cours")),
    "cancel-replacement": ("replacements.cancel", _cancel_target(ProcedureCode.CQC_PERTE,
                                                                 "/mes-demandes/?rubrique=en-cours")),
    "cancel-tachograph": ("tachographs.cancel", _cancel_target(ProcedureCode.TACHY_ENTREPRISE,
                                                               "/mes-demandes/?rubrique=en-cours")),
    "cancel-contract": ("contract.cancel", _cancel_target(ProcedureCode.CONTRAT_CQC, "/mon-contrat/")),
    **{f"answer-{blueprint}": (f"{blueprint}.answer", _answer_target(blueprint)) for blueprint in ASKED},
    **{f"step-{code}-{step}": (f"{declaration.pages}.step", _step_target(code, step))
       for code, declaration in procedures.REGISTRY.items() for step in declaration.step_names},
}


# --- The tests ------------------------------------------------------------------------------------------------------


@pytest.fixture
def app_config():
    # Limits per address would answer 429 long before the examples run out; they are tested on their own.
    return {"FORM_RATE_LIMIT": 10**6, "LOGIN_RATE_LIMIT": "1000000 per minute", "RATELIMIT_ENABLED": False}


@pytest.fixture
def world(app, make_driver, make_staff, monkeypatch):
    fast_pdfs(monkeypatch)
    return World(app, make_driver, make_staff)


def test_every_public_form_is_fuzzed(app):
    posted = {rule.endpoint for rule in app.url_map.iter_rules()
              if "POST" in rule.methods and not rule.rule.startswith("/admin") and rule.endpoint != "static"}
    fuzzed = {endpoint for endpoint, _ in TARGETS.values()}
    posted = {endpoint for endpoint in posted if endpoint.split(".")[0] not in NOT_FUZZED}
    assert posted - fuzzed == set(), "fuzz these forms here, or say in NOT_FUZZED why not"
    assert set(DRAFTS) == set(procedures.REGISTRY), "give every procedure a draft its steps are fuzzed on"
    blueprints = {d.pages for d in procedures.REGISTRY.values() if f"{d.pages}.answer" in app.view_functions}
    assert blueprints <= set(ASKED) | {"replacements"}, "give every « Répondre » a file asked about"


@pytest.mark.parametrize("target", TARGETS)
def test_no_input_makes_a_form_fail(world, target):
    endpoint, reach = TARGETS[target]
    client, page, action, *reopen = reach(world)
    action = action or page
    assert world.app.url_map.bind("localhost").match(urlsplit(action).path, method="POST")[0] == endpoint
    fields, statuses = fuzz(client, page, action, world.valid, *reopen)
    print(f"{target}: {len(fields)} fields, {len(statuses)} submissions, statuses {dict(Counter(statuses))}")
    assert statuses


def test_a_file_name_with_a_line_break_is_cleaned_and_its_document_opens(world):
    holder, dossier = every_step_open(ProcedureCode.CQC, world)
    client = world.client(holder)
    body, content_type = multipart({"action": "suivant"}, {"document": (PDF, "carte\r\nd'identité\x00.pdf", "")})
    response = client.post(f"/mes-demandes/{dossier.id}/etapes/piece_identite", data=body, content_type=content_type)
    assert response.status_code == 302
    document = Dossier.get_by_id(dossier.id).documents.get()
    assert document.original_name == "carte d'identité.pdf"
    opened = client.get(f"/mes-demandes/{dossier.id}/documents/{document.id}")
    assert opened.status_code == 200 and opened.data == PDF
    assert "\r" not in opened.headers["Content-Disposition"]
