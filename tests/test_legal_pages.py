"""Issue 12, items 1 and 4: the terms, privacy policy, legal notice, accessibility statement, FAQ and « Qui
sommes-nous ? » pages, linked from the footer and the consent boxes; the version accepted recorded with each consent;
the page frame (skip link, no empty menu, the « Menu » button of small screens)."""
import datetime as dt
import html
import re
from decimal import Decimal

import pytest

from models import Consent, Organisation, OrgKind, Role, Tariff, User
from models import clock, deadlines
from public_forms import legal as legal_pages
from services import invoices, legal
from tests.conftest import driver_form
from tests.cqc_files import make_member
from tests.test_centre_accounts import FORMATRANS, TRANSPORTS_MARTIN, approve, form_data as organisation_form

#: Every page the footer links to: (path, heading).
PAGES = [
    ("/cgu", "Conditions générales d'utilisation du portail"),
    ("/cgv", "Conditions générales de vente"),
    ("/donnees-personnelles", "Politique de confidentialité et protection des données personnelles"),
    ("/mentions-legales", "Mentions légales"),
    ("/accessibilite", "Déclaration d'accessibilité"),
    ("/foire-aux-questions", "Foire aux questions"),
    ("/qui-sommes-nous", "Qui sommes-nous ?"),
]
#: The footer, as guide 000 shows it, then the legal notice and the accessibility statement: (link text, address).
FOOTER = [
    ("Nous contacter", "mailto:contact-hubprotransport@ingroupe.com"),
    ("CGV", "/cgv"),
    ("CGUP", "/cgu"),
    ("RGPD", "/donnees-personnelles"),
    ("Foire aux questions", "/foire-aux-questions"),
    ("Qui sommes-nous ?", "/qui-sommes-nous"),
    ("Mentions légales", "/mentions-legales"),
    ("Accessibilité : partiellement conforme", "/accessibilite"),
]
#: The consent boxes that accept a document, and the page each label links to.
LINKED_BOXES = {"consent_cgu": "/cgu", "consent_rgpd": "/donnees-personnelles", "consent_cgv": "/cgv"}


def text(fragment):
    """Return the text of an HTML fragment, tags removed, entities read and line breaks joined."""
    return re.sub(r"[ \t\n]+", " ", html.unescape(re.sub(r"<[^>]+>", "", fragment))).strip()


def footer_links(page):
    """Return the (visible text, address) of each link of the footer's « Pied de page » navigation."""
    nav = re.search(r'<nav aria-label="Pied de page">(.*?)</nav>', page, re.S)
    assert nav, "no « Pied de page » navigation"
    links = re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', nav.group(1), re.S)
    return [(text(re.sub(r'<span class="visually-hidden">.*?</span>', "", label)), href) for href, label in links]


def consent_label(page, name):
    """Return the HTML of a consent box's label."""
    label = re.search(rf'<label for="{name}">(.*?)</label>', page, re.S)
    assert label, f"no label for {name}"
    return label.group(1)


# --- The pages -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, heading", PAGES)
def test_each_page_answers_with_its_title(client, path, heading):
    response = client.get(path)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert text(re.search(r"<h1>(.*?)</h1>", page).group(1)) == heading
    assert text(re.search(r"<title>(.*?)</title>", page).group(1)) == f"{heading} – Hub Pro Transport"


@pytest.mark.parametrize("path, version", [("/cgu", legal.CGU), ("/cgv", legal.CGV), ("/donnees-personnelles", legal.RGPD)])
def test_terms_and_privacy_policy_show_their_dated_version(client, path, version):
    page = client.get(path).get_data(as_text=True)
    assert f"Version {version.number} en vigueur depuis le {version.dated:%d/%m/%Y}." in page


def test_the_terms_of_sale_read_their_prices_from_the_tariffs(client):
    today = clock.today()
    Tariff.create(product="CQC", amount_ht=Decimal("25.00"), vat_rate=Decimal("20"), start_date=dt.date(2022, 1, 1))
    Tariff.create(product="CQC", amount_ht=Decimal("28.24"), vat_rate=Decimal("20"), start_date=dt.date(2023, 9, 1))
    Tariff.create(product="CQC", amount_ht=Decimal("30.00"), vat_rate=Decimal("20"), start_date=today + dt.timedelta(days=40))
    Tariff.create(product="REEXPEDITION", amount_ht=Decimal("6.50"), vat_rate=Decimal("20"), start_date=dt.date(2023, 9, 1))
    page = text(client.get("/cgv").get_data(as_text=True))
    assert "Carte de qualification de conducteur (CQC)" in page
    assert "28,24\u00a0€" in page and "33,89\u00a0€" in page  # 28,24 € HT, 20 %, 33,89 € TTC
    assert "25,00\u00a0€" not in page  # a tariff no longer in force
    assert "36,00\u00a0€" in page and f"à compter du {today + dt.timedelta(days=40):%d/%m/%Y}" in page
    assert "6,50\u00a0€" in page and "7,80\u00a0€" in page
    assert "Carte tachygraphe conducteur" not in page  # no tariff, no line
    assert "L. 221-28" in page and f"payable à {invoices.PAYMENT_TERM_DAYS} jours" in page


def test_the_privacy_policy_states_the_products_retention_periods(client):
    page = text(client.get("/donnees-personnelles").get_data(as_text=True))
    assert f"{invoices.RETENTION_YEARS} ans (article L. 123-22 du code de commerce)" in page
    assert f"{deadlines.FCO_SUMMARY_YEARS} ans après leur date" in page
    assert "Valables 48 heures" in page
    assert f"{deadlines.DRAFT_ABANDONED.days} jours est annoncé" in page
    assert f"Effacées {deadlines.CARD_DOCUMENTS_KEPT_MONTHS} mois après la livraison de la carte" in page
    assert f"{deadlines.AUDIT_LOG_KEPT_YEARS} ans, pour la sécurité" in page
    assert "« Télécharger mes données »" in page and "« Fermer mon compte »" in page
    for words in ("Responsable du traitement", "DPO", "Mission d'intérêt public (6.1.e)", "droit d'accès",
                  "3 place de Fontenoy", "CNIL"):
        assert words in page


def test_the_accessibility_statement_gives_its_level_tests_and_recourse(client):
    page = text(client.get("/accessibilite").get_data(as_text=True))
    assert "partiellement conforme" in page and "RGAA" in page
    assert "axe-core" in page and "clavier" in page
    assert "Contenus non accessibles" in page and "PDF" in page
    assert "Défenseur des droits" in page and "Libre réponse 71120" in page


def test_the_legal_notice_names_publisher_director_and_host(client):
    page = text(client.get("/mentions-legales").get_data(as_text=True))
    for heading in ("Éditeur", "Directeur de la publication", "Hébergement"):
        assert heading in page
    assert "IN Groupe" in page and "410494496" in page


# --- The footer and the frame of every page ----------------------------------------------------------------------------


def test_the_footer_links_each_page_as_guide_000_lists_them(client):
    for path in ("/", "/connexion", "/creer-un-compte/particulier", "/cgu"):
        assert footer_links(client.get(path).get_data(as_text=True)) == FOOTER
    for label, href in FOOTER[1:]:
        assert client.get(href).status_code == 200, label


def test_the_footer_is_there_once_logged_in(client, login_user):
    admin = make_member(Organisation.create(kind=OrgKind.COMPANY, siret=TRANSPORTS_MARTIN, name="TRANSPORTS MARTIN"))
    login_user(admin)
    assert footer_links(client.get("/").get_data(as_text=True)) == FOOTER


def test_footer_abbreviations_are_spelt_out_for_screen_readers(client):
    nav = re.search(r'<nav aria-label="Pied de page">(.*?)</nav>', client.get("/").get_data(as_text=True), re.S).group(1)
    names = [text(label) for label in re.findall(r"<a [^>]*>(.*?)</a>", nav, re.S)]
    assert names[1:4] == ["CGV – conditions générales de vente", "CGUP – conditions générales d'utilisation du portail",
                          "RGPD – politique de confidentialité et données personnelles"]


@pytest.mark.parametrize("path", ["/", "/connexion", "/creer-un-compte/", "/mot-de-passe-oublie", "/cgv"])
def test_an_anonymous_page_starts_with_the_skip_link_and_has_no_empty_menu(client, path):
    page = client.get(path).get_data(as_text=True)
    body = page.split("<body", 1)[1]
    first = re.search(r"<(a|button|input|select|textarea)\b[^>]*>", body).group(0)
    assert first == '<a class="skip-link" href="#contenu">'
    assert '<main id="contenu">' in page
    for nav in re.findall(r"<nav\b([^>]*)>(.*?)</nav>", page, re.S):
        assert "aria-label" in nav[0] or "aria-labelledby" in nav[0]
        assert "<a " in nav[1]
    assert "menu-toggle" not in page and "js/menu.js" not in page


def test_a_logged_in_page_has_the_menu_button_tied_to_the_menu(client, login_user):
    admin = make_member(Organisation.create(kind=OrgKind.COMPANY, siret=TRANSPORTS_MARTIN, name="TRANSPORTS MARTIN"))
    login_user(admin)
    page = client.get("/").get_data(as_text=True)
    body = page.split("<body", 1)[1]
    assert re.search(r"<(a|button|input)\b[^>]*>", body).group(0) == '<a class="skip-link" href="#contenu">'
    button = re.search(r'<button type="button" class="menu-toggle"([^>]*)>(.*?)</button>', page, re.S)
    assert button and text(button.group(2)) == "Menu"
    assert 'aria-expanded="false"' in button.group(1) and 'aria-controls="menu-principal"' in button.group(1)
    assert '<nav class="menu" id="menu-principal" aria-label="Menu principal">' in page
    assert '<script src="/static/js/menu.js"></script>' in page.split("</head>")[0]
    assert "onclick" not in page


# --- Consent boxes and the version accepted ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/creer-un-compte/particulier", "/creer-un-compte/centre", "/creer-un-compte/entreprise"])
def test_each_consent_box_label_links_to_its_document_in_a_new_tab(client, path):
    page = client.get(path).get_data(as_text=True)
    for name, href in LINKED_BOXES.items():
        label = consent_label(page, name)
        link = re.search(r'<a href="([^"]+)" target="_blank" rel="noopener">(.*?)</a>', label, re.S)
        assert link and link.group(1) == href, label
        assert text(link.group(2)).endswith("(nouvelle fenêtre)")
        assert client.get(href).status_code == 200


def test_a_box_configured_in_other_words_links_all_its_label(app):
    label = legal_pages.consent_label("cgv", "J'accepte le règlement des ventes.")
    assert label.startswith('<a href="/cgv" target="_blank" rel="noopener">J&#39;accepte le règlement des ventes')
    assert legal_pages.consent_label("exactitude", "J'atteste l'exactitude.") == "J'atteste l'exactitude."


def test_a_box_left_unticked_is_explained_and_no_link_nests_in_another(client):
    page = client.post("/creer-un-compte/particulier", data=driver_form(consent_cgu=None)).get_data(as_text=True)
    assert re.search(r'id="consent_cgu-error">[^<]*obligatoire', page)
    assert 'value="12 rue des Lilas"' in page and User.select().count() == 0
    # An error summary links to the box by its plain label: a link never holds the document's link.
    for inside in re.findall(r"<a\b[^>]*>(.*?)</a>", page, re.S):
        assert "<a " not in inside


def test_a_driver_account_records_the_version_of_each_document_accepted(client):
    client.post("/creer-un-compte/particulier", data=driver_form())
    user = User.get(User.email == "anne.martin@exemple.fr")
    versions = {c.code: c.version for c in Consent.select().where(Consent.user == user)}
    assert versions == {"cgu": "1.0 du 30/11/2026", "rgpd": str(legal.RGPD), "cgv": str(legal.CGV), "exactitude": None}
    assert str(legal.CGU) == "1.0 du 30/11/2026"


@pytest.mark.parametrize("path, siret", [("/creer-un-compte/centre", FORMATRANS), ("/creer-un-compte/entreprise", TRANSPORTS_MARTIN)])
def test_an_organisation_account_records_the_boxes_its_administrator_ticked(client, sirene_rows, path, siret):
    approve(FORMATRANS)
    data = organisation_form(siret=siret, email="direction@exemple.fr", email_confirm="direction@exemple.fr")
    assert "Votre compte a bien été créé." in client.post(path, data=data).get_data(as_text=True)
    user = User.get(User.email == "direction@exemple.fr")
    assert user.role == Role.ORG_ADMIN
    consents = {c.code: (c.label, c.version) for c in Consent.select().where(Consent.user == user)}
    assert consents == {
        "cgu": ("J'ai lu et j'accepte les conditions générales d'utilisation du portail (CGU).", str(legal.CGU)),
        "rgpd": ("J'ai pris connaissance de la politique de confidentialité et de protection des données personnelles "
                 "(RGPD).", str(legal.RGPD)),
        "cgv": ("J'ai lu et j'accepte, pour le compte de mon organisme, les conditions générales de vente (CGV).",
                str(legal.CGV)),
    }


def test_an_organisation_cannot_be_created_without_accepting_the_terms(client, sirene_rows):
    approve(FORMATRANS)
    page = client.post("/creer-un-compte/centre", data=organisation_form(consent_cgv=None)).get_data(as_text=True)
    assert "Votre compte a bien été créé." not in page
    assert re.search(r'id="consent_cgv-error">[^<]*obligatoire', page)
    assert Organisation.select().count() == 0 and User.select().count() == 0


def test_the_demo_drivers_consents_carry_the_versions_in_force(app):
    from services import demo

    list(demo.load())
    consents = list(Consent.select())
    assert consents and all(c.version == legal.version_of(c.code) for c in consents)
    assert {c.version for c in consents if c.code == "cgv"} == {str(legal.CGV)}
