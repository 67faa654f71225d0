"""RGAA / WCAG 2.1 AA on the public portal (issue 12), in Chromium with locale fr-FR.

axe-core checks every page state a visitor, a driver and an organisation reach (empty forms, forms with errors, the
steps of the CQC request, the lists): no critical and no serious violation, no text too short for axe-core to judge
(a step number) below the contrast WCAG asks, and headings that never skip a level.
The driver account form and the password form are then completed with the keyboard only (Tab, Space, Enter and
typing: no click), their errors read from the summary that takes the focus.
"""
import datetime as dt
import os
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CHROMIUM, TEST_PASSWORD, axe_violations
from tests.e2e.dates import date_group, fill_date
from tests.e2e.test_guides import field, public_login

if not os.path.exists(CHROMIUM):
    pytest.skip(f"Chromium absent ({CHROMIUM}) : tests de bout en bout ignorés.", allow_module_level=True)

DRIVER_EMAIL = "anne.martin@exemple.fr"
LICENCE = "942981379228"

#: The visible headings of the page in document order, as (level, text).
HEADINGS = """() => [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")]
    .filter(h => h.getClientRects().length > 0)
    .map(h => [Number(h.tagName[1]), h.textContent.trim().replace(/\\s+/g, " ")])"""


#: The contrasts axe-core leaves to a person (« incomplete »), each as [target, data]: it does not judge a text this
#: short (a step number, a badge), so the ratio it measured is compared here.
SHORT_TEXTS = """() => axe.run(document, {runOnly: {type: "rule", values: ["color-contrast"]}})
    .then(result => result.incomplete.flatMap(rule => rule.nodes).map(node => [node.target[0], node.any[0] && node.any[0].data]))"""


def short_text_contrasts(page):
    """Return the texts too short for axe-core to judge whose contrast is below what WCAG asks (run after axe_violations)."""
    problems = []
    for target, data in page.evaluate(SHORT_TEXTS):
        if data and data.get("messageKey") == "shortTextContent":
            expected = float(data["expectedContrastRatio"].split(":")[0])
            if data["contrastRatio"] < expected:
                problems.append(f"serious color-contrast: texte court {target}, {data['fgColor']} sur {data['bgColor']} "
                                f"= {data['contrastRatio']}:1 (attendu {expected}:1)")
    return problems


def heading_skips(page):
    """Return what is wrong with the page's heading levels: no h1 first, or a level skipped (h1 then h3)."""
    headings = page.evaluate(HEADINGS)
    if not headings or headings[0][0] != 1:
        return [f"le premier titre n'est pas un h1 : {headings[:1]}"]
    problems, previous = [], 0
    for level, text in headings:
        if level > previous + 1:
            problems.append(f"h{level} « {text} » après un h{previous}")
        previous = level
    return problems


class Audit:
    """The page states checked by axe-core and their problems, reported together at the end of a test."""

    def __init__(self):
        self.states, self.problems = [], {}

    def check(self, page, state):
        """Check the page as it stands now, under the name of its state."""
        page.wait_for_load_state()
        found = axe_violations(page) + short_text_contrasts(page) + heading_skips(page)
        self.states.append(state)
        if found:
            self.problems[f"{state} ({page.url})"] = found

    def visit(self, page, path, state=None):
        page.goto(path)
        self.check(page, state or path)

    def assert_clean(self):
        print(f"\naxe-core : {len(self.states)} états de page vérifiés")
        assert not self.problems, "\n".join(f"{state} :\n  " + "\n  ".join(found) for state, found in self.problems.items())


def submit(page, name):
    page.get_by_role("button", name=name, exact=True).click()
    page.wait_for_load_state()


def legal_pages(live):
    """Return the paths of the portal's information pages (legal notices, terms…), whatever their number."""
    rules = live.app.url_map.iter_rules()
    return sorted(rule.rule for rule in rules if rule.endpoint.startswith("legal.") and not rule.arguments)


def active_driver(live, **identity):
    """Create an active driver account through the registration service; return it."""
    from models import AccountState, Dossier, User
    from services import accounts, passwords

    data = {
        "email": DRIVER_EMAIL, "last_name": "Martin", "first_name": "Anne", "birth_date": dt.date(1991, 8, 19),
        "birth_place": "Lille", "birth_country": "France", "licence_number": LICENCE, "mobile": "+33612345678",
        "address": "12 rue des Lilas", "address_extra": "", "postal_code": "59000", "city": "Lille",
    }
    data.update(identity)
    user = accounts.register_driver(data, live.app.config["DRIVER_CONSENTS"])
    User.update(password_hash=passwords.hash_password(TEST_PASSWORD)).where(User.id == user.id).execute()
    Dossier.update(state=AccountState.ACTIVE).where(Dossier.user == user).execute()
    return User.get_by_id(user.id)


# --- Anonymous pages ------------------------------------------------------------------------------------------


def test_the_anonymous_pages_and_their_forms_with_errors(live, new_page):
    audit = Audit()
    page = new_page()
    paths = ["/", "/connexion", "/mot-de-passe-oublie", "/creer-un-compte/", "/creer-un-compte/particulier",
             "/creer-un-compte/centre", "/creer-un-compte/entreprise", *legal_pages(live)]
    for path in paths:
        audit.visit(page, path)

    page.goto("/connexion")
    submit(page, "Connexion")
    expect(page.get_by_role("alert")).to_contain_text("2 erreurs dans le formulaire")
    audit.check(page, "connexion : champs vides")
    public_login(page, "personne@exemple.fr", "Mauvais-mot-de-passe-1")
    expect(page.get_by_role("alert")).to_contain_text("Adresse électronique ou mot de passe incorrect.")
    expect(page.get_by_role("alert")).to_be_focused()
    password = field(page, "Mot de passe")
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_accessible_description("Adresse électronique ou mot de passe incorrect.")
    audit.check(page, "connexion : mot de passe incorrect")

    page.goto("/mot-de-passe-oublie")
    field(page, "Adresse électronique").fill("pas-une-adresse")
    submit(page, "Envoyer")
    expect(page.get_by_role("alert")).to_contain_text("1 erreur dans le formulaire")
    audit.check(page, "mot de passe oublié : adresse invalide")
    field(page, "Adresse électronique").fill("personne@exemple.fr")
    submit(page, "Envoyer")
    audit.check(page, "mot de passe oublié : envoyé")

    page.goto("/creer-un-compte/particulier")
    submit(page, "Créer")
    expect(page.get_by_role("alert")).to_be_focused()
    audit.check(page, "compte Particulier : formulaire vide envoyé")
    birth = date_group(page, "Date de naissance")
    for label, value in (("Jour", "31"), ("Mois", "02"), ("Année", "1985")):
        birth.get_by_label(label, exact=True).fill(value)
    submit(page, "Créer")
    day = birth.get_by_label("Jour", exact=True)
    expect(day).to_have_value("31")
    expect(day).to_have_attribute("aria-invalid", "true")
    expect(birth.get_by_label("Année", exact=True)).not_to_have_attribute("aria-invalid", "true")
    expect(birth).to_have_accessible_description(
        "Par exemple : 14 03 1985 Le 31/02/1985 n'existe pas : saisissez une date de naissance valide, par exemple 14 03 1985.")
    audit.check(page, "compte Particulier : date de naissance impossible")

    for kind, button in (("centre", "CRÉER"), ("entreprise", "CRÉER")):
        page.goto(f"/creer-un-compte/{kind}")
        submit(page, button)
        expect(page.get_by_role("alert")).to_be_visible()
        audit.check(page, f"compte {kind} : formulaire vide envoyé")

    audit.assert_clean()


def test_the_password_link_pages(live, new_page):
    from models import AccountState, Dossier, TokenPurpose
    from services import tokens

    with live.database():
        user = active_driver(live)
        Dossier.update(state=AccountState.CONFORME).where(Dossier.user == user).execute()
        token = tokens.issue(TokenPurpose.CREATE_PASSWORD, user=user)
        unlock = tokens.issue(TokenPurpose.UNLOCK, user=user)
    audit = Audit()
    page = new_page()
    audit.visit(page, f"/mot-de-passe/{token}", "lien « Créer mon mot de passe »")
    page.get_by_role("link", name="Cliquer ici pour continuer").click()
    audit.check(page, "Je personnalise mon mot de passe")
    field(page, "Mot de passe").fill("court")
    field(page, "Confirmation du mot de passe").fill("autre")
    audit.check(page, "mot de passe : règles non respectées, en cours de saisie")
    submit(page, "Valider")
    expect(page.get_by_role("alert")).to_be_focused()
    audit.check(page, "mot de passe : erreurs")
    field(page, "Mot de passe").fill("Transport-Lille-2024!")
    field(page, "Confirmation du mot de passe").fill("Transport-Lille-2024!")
    page.get_by_role("button", name="Afficher le mot de passe").first.click()
    audit.check(page, "mot de passe : affiché en clair")
    submit(page, "Valider")
    expect(page.get_by_role("heading", name="Votre mot de passe est enregistré")).to_be_visible()
    audit.check(page, "mot de passe enregistré")
    audit.visit(page, f"/mot-de-passe/{token}", "lien déjà utilisé")
    audit.visit(page, "/mot-de-passe/lien-inconnu", "lien inconnu")
    audit.visit(page, f"/deblocage/{unlock}", "lien de déblocage")
    audit.assert_clean()


# --- A driver's pages and the CQC request, step by step --------------------------------------------------------


def test_a_driver_s_pages_and_each_step_of_the_cqc_request(live, new_page, tmp_path, monkeypatch):
    from decimal import Decimal

    from models import Card, CqcRequest, Dossier, Habilitation, Procedure, Staff, StaffRole
    from services import cards, dossiers, invoices, passwords
    from tests.cqc_files import PDF, png
    from tests.driver_data import fast_pdfs, make_centre, record

    fast_pdfs(monkeypatch)
    with live.database():
        user = active_driver(live)
        record(make_centre(), user)
        agent = Staff.create(email="agent.cqc@ingroupe.fr", role=StaffRole.AGENT, first_name="Bruno",
                             last_name="Agent", password_hash=passwords.hash_password(TEST_PASSWORD))
    audit = Audit()
    page = new_page()
    page.goto("/connexion")
    public_login(page, DRIVER_EMAIL, TEST_PASSWORD)
    expect(page.get_by_role("button", name="Déconnexion")).to_be_visible()
    audit.check(page, "accueil du conducteur")
    for path in ("/mes-notifications", "/mes-formations", "/mes-certificats", "/mon-compte", "/mes-cartes/",
                 "/mes-factures", "/mes-demandes/?rubrique=faire", "/mes-demandes/?rubrique=en-cours",
                 "/mes-demandes/remplacement/", "/mes-demandes/cqc"):
        audit.visit(page, path)

    # The CQC request, each step as it first shows, then with its error.
    submit(page, "Commencer")
    expect(page.get_by_role("heading", name="Vérification de mon identité")).to_be_visible()
    audit.check(page, "CQC : identité")
    submit(page, "Suivant")
    expect(page.get_by_role("alert")).to_be_visible()
    audit.check(page, "CQC : identité non certifiée")
    page.get_by_label("Je certifie l'exactitude de ces informations").check()
    submit(page, "Suivant")
    expect(page.get_by_role("heading", name="Ma photo")).to_be_visible()
    audit.check(page, "CQC : photo")
    # The summary of a request still lacking its documents: « Valider ma demande » says why it is disabled.
    photo_step = page.url
    with live.database():
        CqcRequest.update(step="recapitulatif").where(CqcRequest.dossier == int(photo_step.split("/")[-3])).execute()
    page.goto(photo_step.replace("/photo", "/recapitulatif"))
    validate = page.get_by_role("button", name="Valider ma demande")
    expect(validate).to_be_disabled()
    expect(validate).to_have_accessible_description(re.compile(r"^Pour valider, complétez d'abord : .+\.$"))
    audit.check(page, "CQC : récapitulatif d'une demande incomplète")
    page.goto(photo_step)
    fake = tmp_path / "photo.jpg"
    fake.write_text("Ceci n'est pas une photo.\n", encoding="utf-8")
    page.get_by_label("Photo d'identité").set_input_files(fake)
    submit(page, "Suivant")
    expect(page.get_by_role("alert")).to_contain_text("Format non accepté")
    audit.check(page, "CQC : photo refusée")
    for label, name, content, heading in (
        ("Photo d'identité", "photo.png", png(24, 32, (0, 0, 145)), "Ma signature"),
        ("Signature", "signature.png", png(60, 20, (20, 20, 20)), "Ma pièce d'identité"),
        ("Pièce d'identité", "cni.pdf", PDF, "Mon adresse de livraison"),
    ):
        upload = tmp_path / name
        upload.write_bytes(content)
        page.get_by_label(label).set_input_files(upload)
        submit(page, "Suivant")
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        audit.check(page, f"CQC : {heading}")
    field(page, "Code postal de livraison").fill("590")
    field(page, "Commune de livraison").fill("")
    submit(page, "Suivant")
    expect(page.get_by_role("alert")).to_contain_text("2 erreurs dans le formulaire")
    audit.check(page, "CQC : adresse de livraison avec erreurs")
    field(page, "Code postal de livraison").fill("59000")
    field(page, "Commune de livraison").fill("Lille")
    submit(page, "Suivant")
    expect(page.get_by_role("heading", name="Récapitulatif")).to_be_visible()
    audit.check(page, "CQC : récapitulatif")
    stepper = page.get_by_role("list", name="Étapes de la demande")
    stepper.get_by_role("link", name=re.compile("Ma photo")).click()
    audit.check(page, "CQC : photo déjà versée, revue depuis le récapitulatif")
    stepper.get_by_role("link", name=re.compile("Récapitulatif")).click()
    submit(page, "Valider ma demande")
    expect(page.get_by_role("heading", name="Mon dossier est envoyé pour traitement")).to_be_visible()
    audit.check(page, "CQC : demande envoyée")
    audit.visit(page, "/mes-demandes/?rubrique=en-cours", "Mes demandes en cours : demande envoyée")

    # Accepted, its card delivered, an invoice: the lists with something in them.
    with live.database():
        Habilitation.create(staff=agent, procedure=Procedure.by_code("CQC"))
        dossier = Dossier.get(Dossier.user == user.id, Dossier.procedure == Procedure.by_code("CQC"))
        dossiers.take(dossier, agent)
        card = dossiers.accept(Dossier.get_by_id(dossier.id), agent)
        cards.move(card, "ship", staff=agent)
        cards.move(Card.get_by_id(card.id), "deliver", staff=agent)
        invoices.issue(lines=[("Remplacement de CQC", 1, Decimal("28.24"), Decimal("20"))],
                       buyer_name="Anne MARTIN", buyer_address="12 rue des Lilas\n59000 Lille", user=user)
    for path in ("/", "/mes-notifications", "/mes-demandes/?rubrique=en-cours", f"/mes-demandes/{dossier.id}",
                 "/mes-cartes/", "/mes-factures", "/mes-demandes/remplacement/"):
        audit.visit(page, path, f"{path} (avec une carte livrée et une facture)")
    submit(page, "Commencer")
    expect(page.get_by_role("alert")).to_be_visible()
    audit.check(page, "Remplacement, Echange : aucun motif choisi")
    audit.assert_clean()


# --- Organisations: the forms asking dates ------------------------------------------------------------------


def test_the_organisation_forms_that_ask_dates(live, new_page):
    from tests.cqc_files import make_centre, make_member
    from tests.tachy_data import company_under_contract, tachy_tariffs

    from models import Staff, StaffRole
    from services import passwords

    with live.database():
        centre_member = make_member(make_centre())
        tachy_tariffs()
        agent = Staff.create(email="tachy@ingroupe.fr", role=StaffRole.AGENT, first_name="Karim", last_name="Benali",
                             password_hash=passwords.hash_password(TEST_PASSWORD))
        _, company_admin, _ = company_under_contract(agent)
    audit = Audit()
    centre = new_page()
    centre.goto("/connexion")
    public_login(centre, centre_member.email, TEST_PASSWORD)
    audit.visit(centre, "/centre/formations", "Mes formations déclarées")
    centre.get_by_text("Déclarer une formation", exact=True).click()
    audit.check(centre, "Déclarer une formation : formulaire ouvert")
    fill_date(centre, "Date de début", dt.date(2024, 9, 2))
    date_group(centre, "Date de fin").get_by_label("Mois", exact=True).fill("13")
    submit(centre, "Déclarer la formation")
    expect(centre.get_by_role("alert")).to_be_focused()
    audit.check(centre, "Déclarer une formation : erreurs")
    centre.get_by_role("alert").get_by_role("link", name=re.compile("^Date de fin")).click()
    expect(date_group(centre, "Date de fin").get_by_label("Jour", exact=True)).to_be_focused()

    company = new_page()
    company.goto("/connexion")
    public_login(company, company_admin.email, TEST_PASSWORD)
    for path in ("/mes-conducteurs/", "/mes-gestionnaires/", "/mes-gestionnaires/ajouter", "/mon-contrat/"):
        audit.visit(company, path)
    company.goto("/mes-conducteurs/")
    company.get_by_text("Ajouter un conducteur", exact=True).click()
    submit(company, "Ajouter le conducteur")
    expect(company.get_by_role("alert")).to_be_focused()
    audit.check(company, "Ajouter un conducteur : erreurs")
    company.goto("/mes-gestionnaires/ajouter")
    submit(company, "Ajouter")
    audit.check(company, "Ajouter un gestionnaire : erreurs")
    audit.assert_clean()


# --- The keyboard alone ------------------------------------------------------------------------------------


def tab_to(page, target, limit=60):
    """Press Tab until the target (a locator, or the id of an element) has the focus."""
    target = page.locator(f"#{target}") if isinstance(target, str) else target
    for _ in range(limit):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target} jamais atteint au clavier")


def type_in(page, target, text):
    """Reach a field with Tab, empty it and type."""
    tab_to(page, target)
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.press("Delete")
    page.keyboard.type(text)


def test_the_driver_account_form_with_the_keyboard_only(live, new_page):
    from models import Driver

    page = new_page()
    page.goto("/creer-un-compte/particulier")
    for element_id, text in (
        ("last_name", "Martin"), ("first_name", "Paul"), ("birth_date-day", "14"), ("birth_date-month", "03"),
        ("birth_date-year", "1985"), ("birth_place", "Lille"), ("licence_number", "13aa00002"),
        ("mobile", "06 12 34 56 78"), ("address", "12 rue des Lilas"), ("postal_code", "59000"), ("city", "Lille"),
        ("email", "paul.martin@exemple.fr"), ("email_confirm", "paul.martin@exemple.com"),
    ):
        type_in(page, element_id, text)
    expect(page.locator("#licence-aid")).to_be_visible()  # opened when the licence number got the focus
    for box in ("consent_cgu", "consent_rgpd", "consent_cgv", "consent_exactitude"):
        tab_to(page, box)
        page.keyboard.press("Space")
        expect(page.locator(f"#{box}")).to_be_checked()
    tab_to(page, page.get_by_role("button", name="Créer", exact=True))
    page.keyboard.press("Enter")

    # The summary has the focus; its link takes it to the field, which is corrected.
    summary = page.get_by_role("alert")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("1 erreur dans le formulaire")
    page.keyboard.press("Tab")
    expect(summary.get_by_role("link")).to_be_focused()
    page.keyboard.press("Enter")
    confirm = page.locator("#email_confirm")
    expect(confirm).to_be_focused()
    expect(confirm).to_have_value("paul.martin@exemple.com")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("paul.martin@exemple.fr")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Votre demande de création de compte est envoyée")).to_be_visible()
    with live.database():
        driver = Driver.get()
    assert (driver.birth_date, driver.licence_number) == (dt.date(1985, 3, 14), "13AA00002")


def test_the_password_form_with_the_keyboard_only(live, new_page):
    from models import AccountState, Dossier, TokenPurpose
    from services import tokens

    with live.database():
        user = active_driver(live)
        Dossier.update(state=AccountState.CONFORME).where(Dossier.user == user).execute()
        token = tokens.issue(TokenPurpose.CREATE_PASSWORD, user=user)
    page = new_page()
    page.goto(f"/mot-de-passe/{token}")
    tab_to(page, page.get_by_role("link", name="Cliquer ici pour continuer"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Je personnalise mon mot de passe")).to_be_visible()

    type_in(page, "password", "Conduite-Sure-59!")
    page.keyboard.press("Tab")
    eye = page.locator('[data-eye="password"]')
    expect(eye).to_be_focused()
    page.keyboard.press("Space")
    expect(page.locator("#password")).to_have_attribute("type", "text")
    expect(eye).to_have_attribute("aria-pressed", "true")
    expect(eye).to_have_accessible_name("Masquer le mot de passe")
    page.keyboard.press("Space")
    expect(page.locator("#password")).to_have_attribute("type", "password")
    expect(eye).to_have_accessible_name("Afficher le mot de passe")
    type_in(page, "confirm", "Conduite-Sure-58!")
    tab_to(page, "validate-password")
    page.keyboard.press("Enter")

    summary = page.get_by_role("alert")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Les deux mots de passe ne sont pas identiques.")
    type_in(page, "password", "Conduite-Sure-59!")
    type_in(page, "confirm", "Conduite-Sure-59!")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Votre mot de passe est enregistré")).to_be_visible()
    tab_to(page, page.get_by_role("link", name="Revenir à l'application"))
    page.keyboard.press("Enter")

    expect(page.locator("#email")).to_be_focused()  # autofocus
    page.keyboard.type(DRIVER_EMAIL)
    type_in(page, "password", "Conduite-Sure-59!")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Déconnexion")).to_be_visible()
