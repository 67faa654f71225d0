"""Guide 002: a training centre creates its administrator account; staff record its approvals."""
import datetime as dt
import html
import io
import re
import threading

import pytest

from models import Approval, AuditLog, OrgKind, Organisation, OutboxMessage, Role, StaffRole, Token, TokenPurpose, User, db
from services import accounts, approvals
from tests.conftest import last_email, outbox_links, path_of

FORMATRANS = "47728084603753"
CFA_LYON = "40073444800477"
ROUTIER_NORMAND = "44455566800045"
CLOSED = "51234567900017"
NO_APPROVAL = "79876543400039"
TRANSPORTS_MARTIN = "82345678500026"
BAD_CHECKSUM = "47728084603754"

SIRET_TAKEN = "Un compte Hub Pro Transport existe déjà pour ce SIRET : un seul compte est possible par SIRET."
EMAIL_TAKEN = "Cette adresse électronique est déjà associée à un compte Hub Pro Transport."


def approve(siret, category="Marchandises", trainings="FIMO,Passerelle,FCO", email=None):
    return approvals.record(
        siret=siret, number=f"AGR-{siret[:5]}", category=category, trainings=trainings,
        email=email or f"dreal-{siret}@exemple.fr", granted_on=dt.date(2021, 12, 28),
    )


def form_data(**changes):
    """The creation form as guide 002 fills it."""
    data = {
        "siret": "477 280 846 03753",
        "organisation_name": "",
        "last_name": "Durand",
        "first_name": "Claire",
        "email": "cfa-lille@gmail.com",
        "email_confirm": "cfa-lille@gmail.com",
        "consent_cgu": "y",
        "consent_rgpd": "y",
        "consent_cgv": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def errors_of(page, name):
    """Return the error messages shown next to a field."""
    return [html.unescape(m) for m in re.findall(rf'<p class="error" id="{name}-error">(.*?)</p>', page)]


def value_of(page, name):
    """Return the value an input shows."""
    tag = re.search(rf'<input[^>]*\bid="{name}"[^>]*>', page)
    assert tag, f"no input {name}"
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return html.unescape(value.group(1)) if value else ""


def flashes(client):
    with client.session_transaction() as session:
        return [(category, message) for category, message in session.get("_flashes", [])]


@pytest.fixture
def formatrans(sirene_rows):
    """FORMATRANS: active in Sirene, approved."""
    return approve(FORMATRANS)


# --- Creating the account --------------------------------------------------------------------------


def test_the_form_shows_the_centre_profile(client):
    page = client.get("/creer-un-compte/centre").get_data(as_text=True)
    assert "CQC - Centre de Formation Agréé" in page
    assert "Numéro de SIRET" in page and "Nom de l&#39;organisme" in page
    assert "CRÉER" in page


def test_a_centre_creates_its_account(client, formatrans):
    response = client.post("/creer-un-compte/centre", data=form_data())
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Votre compte a bien été créé." in page
    assert "Veuillez consulter votre messagerie électronique <strong>cfa-lille@gmail.com</strong>" in page
    assert "SE CONNECTER" in page

    organisation = Organisation.get(Organisation.siret == FORMATRANS)
    assert (organisation.kind, organisation.name) == (OrgKind.CENTRE, "FORMATRANS")
    user = User.get(User.email == "cfa-lille@gmail.com")
    assert (user.role, user.organisation_id, user.last_name, user.first_name) == (Role.ORG_ADMIN, organisation.id, "Durand", "Claire")
    assert user.password_hash is None  # set later from the e-mailed link

    mail = last_email("cfa-lille@gmail.com")
    assert mail.subject == "Créez votre mot de passe Hub Pro Transport"
    assert "Créer mon mot de passe" in mail.body_text
    [link] = [link for link in outbox_links(mail) if "/mot-de-passe/" in link]
    assert Token.get(Token.user == user).purpose == TokenPurpose.CREATE_PASSWORD
    assert client.get(path_of(link)).status_code == 200
    assert AuditLog.select().where(AuditLog.action == "Création de compte centre", AuditLog.target == FORMATRANS).exists()


def test_one_account_even_with_several_approvals(client, formatrans):
    approve(FORMATRANS, category="Voyageurs")
    assert "Votre compte a bien été créé." in client.post("/creer-un-compte/centre", data=form_data()).get_data(as_text=True)
    assert Organisation.select().count() == 1


def refused(client, path="/creer-un-compte/centre", **changes):
    response = client.post(path, data=form_data(**changes))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Votre compte a bien été créé." not in page
    return page


SIRET_REFUSALS = [
    (BAD_CHECKSUM, "Ce numéro de SIRET n'est pas valide : vérifiez sa saisie (clé de contrôle incorrecte)."),
    ("477 280 846", "Le numéro de SIRET doit comporter 14 chiffres (SIREN 9 + NIC 5)."),
    ("356 000 000 00048", "Ce numéro de SIRET est inconnu de la base INSEE (Sirene)."),
    ("512 345 679 00017", "Cet établissement est fermé dans la base INSEE (Sirene) : seul un SIRET actif permet de créer un compte."),
    (
        "798 765 434 00039",
        "Aucun agrément n'est enregistré pour ce SIRET dans le référentiel des agréments : "
        "un centre de formation doit disposer d'au moins un agrément.",
    ),
]


def test_a_siret_refusal_says_why_next_to_the_siret(client, formatrans):
    approve(CLOSED)  # an approval does not make a closed establishment eligible
    for siret, message in SIRET_REFUSALS:
        page = refused(client, siret=siret)
        assert errors_of(page, "siret") == [message], siret
        assert errors_of(page, "email") == []
        # What was typed is kept.
        assert value_of(page, "siret") == siret
        assert value_of(page, "last_name") == "Durand"
        assert value_of(page, "first_name") == "Claire"
        assert value_of(page, "email") == "cfa-lille@gmail.com"
        assert value_of(page, "email_confirm") == "cfa-lille@gmail.com"
        assert value_of(page, "organisation_name") == ""
    assert Organisation.select().count() == 0
    assert User.select().count() == 0
    assert OutboxMessage.select().where(OutboxMessage.recipient == "cfa-lille@gmail.com").count() == 0


def test_a_siret_that_already_has_an_account_is_refused(client, formatrans):
    client.post("/creer-un-compte/centre", data=form_data())
    page = refused(client, email="autre@exemple.fr", email_confirm="autre@exemple.fr")
    assert errors_of(page, "siret") == [SIRET_TAKEN]
    assert value_of(page, "email") == "autre@exemple.fr"
    assert Organisation.select().count() == 1
    assert not User.select().where(User.email == "autre@exemple.fr").exists()


def test_an_address_already_used_by_an_account_is_refused(client, formatrans):
    approve(CFA_LYON)
    client.post("/creer-un-compte/centre", data=form_data(siret=CFA_LYON))
    page = refused(client, email=" CFA-Lille@Gmail.com ", email_confirm="cfa-lille@gmail.COM")
    assert errors_of(page, "email") == [EMAIL_TAKEN]
    assert errors_of(page, "siret") == []
    assert value_of(page, "siret") == "477 280 846 03753"
    assert value_of(page, "email") == "cfa-lille@gmail.com"
    # The SIRET is eligible: its name is shown.
    assert value_of(page, "organisation_name") == "FORMATRANS"
    assert not Organisation.select().where(Organisation.siret == FORMATRANS).exists()


def test_a_staff_address_is_not_revealed_by_the_public_form(client, formatrans, make_staff):
    make_staff(email="agent.dreal@ingroupe.fr")
    data = form_data(email="Agent.DREAL@ingroupe.fr", email_confirm="agent.dreal@ingroupe.fr")
    page = client.post("/creer-un-compte/centre", data=data).get_data(as_text=True)
    assert EMAIL_TAKEN not in page and "Votre compte a bien été créé." in page
    assert Organisation.select().count() == 1


def test_the_two_addresses_must_match(client, formatrans):
    page = refused(client, email_confirm="cfa-lile@gmail.com")
    assert errors_of(page, "email_confirm") == ["Les deux adresses électroniques ne sont pas identiques."]
    assert value_of(page, "email") == "cfa-lille@gmail.com"
    assert value_of(page, "email_confirm") == "cfa-lile@gmail.com"
    assert Organisation.select().count() == 0


def test_missing_or_malformed_fields_are_refused(client, formatrans):
    for field, changes in [
        ("email", {"email": "cfa-lille", "email_confirm": "cfa-lille"}),
        ("last_name", {"last_name": "  "}),
        ("first_name", {"first_name": ""}),
        ("siret", {"siret": ""}),
    ]:
        page = refused(client, **changes)
        assert errors_of(page, field), field
    assert Organisation.select().count() == 0


def test_the_address_is_trimmed_and_compared_case_insensitively(client, formatrans):
    response = client.post(
        "/creer-un-compte/centre", data=form_data(email="  CFA-Lille@Gmail.COM ", email_confirm="cfa-lille@gmail.com")
    )
    assert "Votre compte a bien été créé." in response.get_data(as_text=True)
    user = User.get(User.organisation == Organisation.get(Organisation.siret == FORMATRANS))
    assert user.email == "cfa-lille@gmail.com"
    assert last_email("cfa-lille@gmail.com") is not None


def test_a_transport_company_needs_no_approval(client, sirene_rows):
    assert not Approval.exists_for(TRANSPORTS_MARTIN)
    page = client.post(
        "/creer-un-compte/entreprise",
        data=form_data(siret="823 456 785 00026", email="contact@transports-martin.fr", email_confirm="contact@transports-martin.fr"),
    ).get_data(as_text=True)
    assert "Votre compte a bien été créé." in page
    organisation = Organisation.get(Organisation.siret == TRANSPORTS_MARTIN)
    assert (organisation.kind, organisation.name) == (OrgKind.COMPANY, "TRANSPORTS MARTIN ET FILS")
    assert User.get(User.email == "contact@transports-martin.fr").role == Role.ORG_ADMIN
    # The company profile still needs an active SIRET.
    page = refused(client, "/creer-un-compte/entreprise", siret=CLOSED, email="x@exemple.fr", email_confirm="x@exemple.fr")
    assert errors_of(page, "siret")[0].startswith("Cet établissement est fermé")


def test_the_form_is_pre_filled_from_the_link(client, formatrans):
    page = client.get(f"/creer-un-compte/centre?siret={FORMATRANS}").get_data(as_text=True)
    assert value_of(page, "siret") == FORMATRANS
    assert value_of(page, "organisation_name") == "FORMATRANS"
    # No name for a SIRET that may not open an account, and no error before the form is sent.
    page = client.get(f"/creer-un-compte/centre?siret={NO_APPROVAL}").get_data(as_text=True)
    assert value_of(page, "siret") == NO_APPROVAL
    assert value_of(page, "organisation_name") == ""
    assert errors_of(page, "siret") == []


def test_the_typed_organisation_name_is_not_trusted(client, formatrans):
    client.post("/creer-un-compte/centre", data=form_data(organisation_name="AUTRE NOM"))
    assert Organisation.get(Organisation.siret == FORMATRANS).name == "FORMATRANS"


# --- Approvals recorded in the back office ----------------------------------------------------------


@pytest.fixture
def local_admin(make_staff, login_staff):
    member = make_staff(role=StaffRole.LOCAL_ADMIN)
    response = login_staff(member)
    assert response.status_code == 302
    return member


def test_recording_an_approval_e_mails_the_centre_its_creation_link(client, sirene_rows, local_admin):
    response = client.post(
        "/admin/approvals/new/",
        data={
            "siret": "400 734 448 00477",
            "number": " AGR-69-2021-001 ",
            "category": "Voyageurs",
            "trainings": ["FIMO", "Passerelle", "FCO"],
            "email": "CFA-Lyon@exemple.fr",
            "granted_on": "2021-12-28",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    approval = Approval.get(Approval.siret == CFA_LYON)
    assert (approval.number, approval.category, approval.trainings, approval.email, approval.granted_on) == (
        "AGR-69-2021-001", "Voyageurs", "FIMO,Passerelle,FCO", "cfa-lyon@exemple.fr", dt.date(2021, 12, 28)
    )
    assert approval.notified_at is not None
    assert ("success", "Agrément enregistré : la notification « Agrément CFA » est envoyée à cfa-lyon@exemple.fr.") in flashes(client)

    mail = last_email("cfa-lyon@exemple.fr")
    assert mail.subject == "Agrément CFA"
    text = mail.body_text
    assert f"Votre organisme SIRET n°{CFA_LYON} vient d'être agréé pour le type Voyageurs pour les formations suivantes :" in text
    for name in ("FIMO Voyageurs", "Passerelle Voyageurs", "FCO Voyageurs"):
        assert f"- {name}" in text
    assert "Marchandises" not in text
    [link] = outbox_links(mail)
    assert path_of(link) == f"/creer-un-compte/centre?siret={CFA_LYON}"

    # The link opens the form, pre-filled with the SIRET and the organisation's name.
    page = client.get(path_of(link)).get_data(as_text=True)
    assert value_of(page, "siret") == CFA_LYON
    assert value_of(page, "organisation_name") == "CFA TRANSPORT VOYAGEURS"
    # The centre can then create its account from it.
    response = client.post(path_of(link), data=form_data(siret=CFA_LYON, email="cfa-lyon@exemple.fr", email_confirm="cfa-lyon@exemple.fr"))
    assert "Votre compte a bien été créé." in response.get_data(as_text=True)


def test_the_notification_lists_only_the_approved_trainings(client, local_admin):
    client.post(
        "/admin/approvals/new/",
        data={
            "siret": ROUTIER_NORMAND, "number": "AGR-76-1", "category": "Marchandises", "trainings": ["FIMO", "FCO"],
            "email": "routier@exemple.fr", "granted_on": "2022-03-01",
        },
    )
    text = last_email("routier@exemple.fr").body_text
    assert "- FIMO Marchandises" in text and "- FCO Marchandises" in text
    assert "Passerelle" not in text


def test_an_invalid_approval_is_not_recorded(client, local_admin):
    valid = {
        "siret": ROUTIER_NORMAND, "number": "AGR-76-1", "category": "Marchandises", "trainings": ["FIMO"],
        "email": "routier@exemple.fr", "granted_on": "2022-03-01",
    }
    for changes, message in [
        ({"siret": BAD_CHECKSUM}, "Ce numéro de SIRET n&#39;est pas valide"),
        ({"trainings": []}, "Choisissez au moins une formation."),
        ({"email": "pas-une-adresse"}, "Adresse électronique invalide."),
        ({"number": ""}, "Ce champ est obligatoire."),
        ({"granted_on": "28/12/2021x"}, "Date invalide."),
    ]:
        response = client.post("/admin/approvals/new/", data={**valid, **changes})
        assert response.status_code == 200
        assert message in response.get_data(as_text=True), changes
    assert Approval.select().count() == 0
    assert OutboxMessage.select().count() == 0


def test_only_staff_record_approvals(client):
    response = client.post("/admin/approvals/new/", data={"siret": ROUTIER_NORMAND})
    assert response.status_code == 302
    assert "/admin/connexion" in response.headers["Location"]
    assert Approval.select().count() == 0


def import_approvals(client, content, filename="agrements.csv"):
    data = {"file": (io.BytesIO(content if isinstance(content, bytes) else content.encode("utf-8")), filename)}
    response = client.post("/admin/approvals/import", data=data, content_type="multipart/form-data")
    assert response.status_code == 302
    return flashes(client)


def test_the_csv_import_records_valid_rows_and_reports_bad_ones_by_line(client, local_admin):
    content = "\n".join(
        [
            "siret;numero;type;formations;email;date",
            "400 734 448 00477;AGR-69-001;Voyageurs;FIMO,Passerelle,FCO;cfa-lyon@exemple.fr;28/12/2021",
            f"{BAD_CHECKSUM};AGR-59-002;Marchandises;FIMO;x@exemple.fr;28/12/2021",
            f"{ROUTIER_NORMAND};AGR-76-003;Fret;FIMO;y@exemple.fr;28/12/2021",
            f"{ROUTIER_NORMAND};AGR-76-004;Marchandises;FIMO,Permis C;y@exemple.fr;28/12/2021",
            f"{ROUTIER_NORMAND};AGR-76-005;Marchandises;FCO;;28/12/2021",
            f"{ROUTIER_NORMAND};AGR-76-006;Marchandises;FCO;y@exemple.fr;31/02/2021",
            f"{FORMATRANS};;Marchandises;FCO;z@exemple.fr;28/12/2021",
            f"{FORMATRANS};AGR-59-007;marchandises;;formatrans@exemple.fr;2022-01-05",
            f'{ROUTIER_NORMAND};AGR-76-008;Marchandises;"FIMO;FCO";routier@exemple.fr;01/03/2022',
        ]
    )
    messages = import_approvals(client, "\ufeff" + content)
    assert ("success", "3 agrément(s) enregistré(s) ; chaque centre reçoit la notification « Agrément CFA ».") in messages
    errors = [message for category, message in messages if category == "error"]
    assert errors == [
        "Ligne 3 : Ce numéro de SIRET n'est pas valide : vérifiez sa saisie (clé de contrôle incorrecte).",
        "Ligne 4 : type attendu : Marchandises ou Voyageurs",
        "Ligne 5 : formation inconnue : Permis C",
        "Ligne 6 : adresse électronique manquante",
        "Ligne 7 : date attendue au format JJ/MM/AAAA",
        "Ligne 8 : numéro d'agrément manquant",
    ]
    recorded = {a.number: a for a in Approval.select()}
    assert set(recorded) == {"AGR-69-001", "AGR-59-007", "AGR-76-008"}
    assert recorded["AGR-69-001"].siret == CFA_LYON
    assert recorded["AGR-69-001"].granted_on == dt.date(2021, 12, 28)
    assert (recorded["AGR-59-007"].category, recorded["AGR-59-007"].trainings) == ("Marchandises", "FIMO,Passerelle,FCO")
    assert recorded["AGR-59-007"].granted_on == dt.date(2022, 1, 5)
    assert recorded["AGR-76-008"].trainings == "FIMO,FCO"
    # Each recorded centre is notified; nothing goes to the rows in error.
    for email in ("cfa-lyon@exemple.fr", "formatrans@exemple.fr", "routier@exemple.fr"):
        assert last_email(email).subject == "Agrément CFA"
    for email in ("x@exemple.fr", "y@exemple.fr", "z@exemple.fr"):
        assert last_email(email) is None


def test_a_comma_separated_import_works_too(client, local_admin):
    content = "SIRET,Numero,Type,Formations,Email,Date\n" f'{CFA_LYON},AGR-1,Voyageurs,"FIMO,FCO",cfa@exemple.fr,28/12/2021\n'
    messages = import_approvals(client, content)
    assert messages[0][0] == "success"
    assert Approval.get(Approval.number == "AGR-1").trainings == "FIMO,FCO"


def test_the_import_refuses_a_missing_or_non_utf8_file(client, local_admin):
    response = client.post("/admin/approvals/import", data={}, content_type="multipart/form-data")
    assert response.status_code == 302
    assert ("error", "Choisissez un fichier CSV.") in flashes(client)
    messages = import_approvals(client, "siret;numero\n4772808460375é;AGR\n".encode("latin-1"))
    assert ("error", "Le fichier doit être encodé en UTF-8.") in messages
    assert Approval.select().count() == 0


# --- Two creations of the same SIRET at the same moment -------------------------------------------


def race(app, attempts, barrier=None):
    """Run register_organisation once per (siret, email), each in its own thread; return results by email."""
    results = {}

    def attempt(siret, email):
        # Contexts are per thread: this one is the thread's own, with its own connection.
        with app.app_context():
            db.connect(reuse_if_open=True)
            try:
                if barrier is not None:
                    barrier.wait()
                results[email] = accounts.register_organisation(OrgKind.CENTRE, siret, "Durand", "Claire", email)
            except accounts.Refused as refusal:
                results[email] = refusal
            except Exception as error:  # noqa: BLE001 -- reported by the test
                results[email] = error
            finally:
                if not db.is_closed():
                    db.close()

    threads = [threading.Thread(target=attempt, args=a) for a in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def _check_one_winner(results, siret):
    winners = [r for r in results.values() if isinstance(r, User)]
    losers = [r for r in results.values() if not isinstance(r, User)]
    assert len(winners) == 1, results
    assert len(losers) == 1 and isinstance(losers[0], accounts.Refused), results
    assert (losers[0].field, losers[0].message) == ("siret", SIRET_TAKEN)
    assert Organisation.select().where(Organisation.siret == siret).count() == 1
    assert User.select().count() == 1
    [loser_email] = [e for e, r in results.items() if r is losers[0]]
    # The loser's transaction rolled back: no account and no e-mail for it.
    assert not User.select().where(User.email == loser_email).exists()
    assert last_email(loser_email) is None
    winner_email = winners[0].email
    assert last_email(winner_email).subject == "Créez votre mot de passe Hub Pro Transport"


def test_two_creations_of_the_same_siret_at_once_make_one_account(app, formatrans):
    db.close()  # this thread holds no connection while the two threads race
    barrier = threading.Barrier(2, timeout=10)
    results = race(app, [(FORMATRANS, "premier@exemple.fr"), (FORMATRANS, "second@exemple.fr")], barrier)
    _check_one_winner(results, FORMATRANS)


def test_a_creation_that_loses_the_race_after_its_checks_is_refused(app, formatrans, monkeypatch):
    # Hold both threads after their checks, so both insert and the unique SIRET decides.
    barrier = threading.Barrier(2, timeout=10)
    checked = accounts.check_email_free

    def check_then_wait(email):
        checked(email)
        barrier.wait()

    monkeypatch.setattr(accounts, "check_email_free", check_then_wait)
    db.close()
    results = race(app, [(FORMATRANS, "premier@exemple.fr"), (FORMATRANS, "second@exemple.fr")])
    _check_one_winner(results, FORMATRANS)


def test_two_creations_with_the_same_address_at_once_make_one_account(app, formatrans, monkeypatch):
    approve(CFA_LYON)
    barrier = threading.Barrier(2, timeout=10)
    checked = accounts.check_email_free

    def check_then_wait(email):
        checked(email)
        barrier.wait()

    monkeypatch.setattr(accounts, "check_email_free", check_then_wait)
    db.close()
    results = race(app, [(FORMATRANS, "cfa@exemple.fr"), (CFA_LYON, " CFA@exemple.fr ")])
    winners = [r for r in results.values() if isinstance(r, User)]
    losers = [r for r in results.values() if not isinstance(r, User)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert isinstance(losers[0], accounts.Refused), results
    assert (losers[0].field, losers[0].message) == ("email", EMAIL_TAKEN)
    assert User.select().where(User.email == "cfa@exemple.fr").count() == 1
    # The loser's organisation was rolled back with its administrator.
    assert Organisation.select().count() == 1
    assert Organisation.get().siret == winners[0].organisation.siret
