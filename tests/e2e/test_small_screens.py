"""Issue 12, items 1 and 4, in a real browser: at phone width (375 × 812) a company administrator's menu folds behind
« Menu », opens with the mouse, Enter and Space, and closes with Escape, the focus always visible; « Aller au contenu »
comes first; without JavaScript the menu stays open; a consent box's document opens in a new tab and the form keeps
what was typed; axe-core finds no critical or serious violation on the folded and unfolded header nor on the pages the
footer links to."""
import os

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import CHROMIUM, TEST_PASSWORD, axe_violations
from tests.e2e.test_guides import HOME_TITLE, field, public_login

if not os.path.exists(CHROMIUM):
    pytest.skip(f"Chromium absent ({CHROMIUM}) : tests de bout en bout ignorés.", allow_module_level=True)

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}
ADMIN = "direction@transports-martin.fr"
ADMIN_MENU = ["Accueil", "Mon compte", "Mon Contrat", "Mes Gestionnaires", "Mes Conducteurs", "Mes Demandes",
              "Mes Factures", "Mes Cartes", "Supervision"]
#: The pages the footer links to, by their link text (a screen reader hears the abbreviations spelt out).
FOOTER_PAGES = [("CGV", "Conditions générales de vente"), ("CGUP", "Conditions générales d'utilisation du portail"),
                ("RGPD", "Politique de confidentialité et protection des données personnelles"),
                ("Foire aux questions", "Foire aux questions"), ("Qui sommes-nous ?", "Qui sommes-nous ?"),
                ("Mentions légales", "Mentions légales"),
                ("Accessibilité : partiellement conforme", "Déclaration d'accessibilité")]

#: Is the focused element drawn with a visible outline (at least 2 px, not « none »)?
FOCUS_VISIBLE = """() => {
  const element = document.activeElement, style = getComputedStyle(element);
  return element.matches(':focus-visible') && style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
}"""


@pytest.fixture
def company_admin(live):
    """A transport company and its administrator, who logs in with TEST_PASSWORD."""
    from models import Organisation, OrgKind, Role, User
    from services import passwords

    with live.database():
        company = Organisation.create(kind=OrgKind.COMPANY, siret="82345678500026", name="TRANSPORTS MARTIN ET FILS")
        User.create(email=ADMIN, role=Role.ORG_ADMIN, organisation=company, last_name="Martin", first_name="Jean",
                    password_hash=passwords.hash_password(TEST_PASSWORD))
    return ADMIN


@pytest.fixture
def tariffs(live):
    """The prices the terms of sale read: each card and service, and a CQC price announced for later."""
    import datetime as dt
    from decimal import Decimal

    from models import Product, Tariff, clock

    with live.database():
        for product, amount in ((Product.CQC, "28.24"), (Product.CQC_REMPLACEMENT, "28.24"), (Product.REEXPEDITION, "6.50"),
                                (Product.TACHY_CONDUCTEUR, "59.00"), (Product.TACHY_ENTREPRISE, "59.00")):
            Tariff.create(product=product, amount_ht=Decimal(amount), vat_rate=Decimal("20"), start_date=dt.date(2023, 9, 1))
        Tariff.create(product=Product.CQC, amount_ht=Decimal("29.50"), vat_rate=Decimal("20"),
                      start_date=clock.today() + dt.timedelta(days=30))


def logged_in(page):
    page.goto("/connexion")
    public_login(page, ADMIN, TEST_PASSWORD)
    expect(page.get_by_role("heading", name=HOME_TITLE)).to_be_visible()


def focused(page):
    """Return the accessible text of the focused element."""
    return page.evaluate("() => document.activeElement.textContent.trim()")


def test_the_menu_folds_behind_its_button_at_phone_width(new_page, company_admin):
    page = new_page()
    page.set_viewport_size(PHONE)
    logged_in(page)
    button = page.get_by_role("button", name="Menu", exact=True)
    menu = page.get_by_role("navigation", name="Menu principal")

    # Folded: the brand, « Menu » and who is connected; the header takes a small part of the screen.
    expect(button).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(button).to_have_attribute("aria-controls", "menu-principal")
    expect(menu).to_be_hidden()
    assert page.locator("header.site").bounding_box()["height"] < PHONE["height"] / 5
    assert axe_violations(page) == []

    # The mouse opens it: every entry, one under the other, full width.
    button.click()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(menu).to_be_visible()
    links = menu.get_by_role("link")
    assert [label.strip() for label in links.all_inner_texts()] == ADMIN_MENU
    boxes = [links.nth(i).bounding_box() for i in range(len(ADMIN_MENU))]
    assert all(box["width"] > 300 and box["height"] >= 40 for box in boxes)
    assert all(later["y"] > earlier["y"] for earlier, later in zip(boxes, boxes[1:]))
    assert axe_violations(page) == []
    button.click()
    expect(menu).to_be_hidden()

    # The keyboard: « Aller au contenu » first, then the brand, then « Menu », each with a visible focus.
    page.goto("/")
    page.keyboard.press("Tab")
    assert focused(page) == "Aller au contenu" and page.evaluate(FOCUS_VISIBLE)
    skip = page.get_by_role("link", name="Aller au contenu")
    assert skip.bounding_box()["y"] >= 0  # shown once it has the focus
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(button).to_be_focused()
    assert page.evaluate(FOCUS_VISIBLE)
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(menu).to_be_visible()
    page.keyboard.press("Tab")
    expect(links.first).to_be_focused()
    assert focused(page) == "Accueil" and page.evaluate(FOCUS_VISIBLE)
    page.keyboard.press("Escape")  # folds it and gives the focus back to « Menu »
    expect(menu).to_be_hidden()
    expect(button).to_be_focused()
    page.keyboard.press(" ")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(menu).to_be_visible()
    page.keyboard.press(" ")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_hidden()

    # « Aller au contenu » leads to the page's content.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "Aller au contenu"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#contenu"

    # A wide screen shows the whole menu and no button.
    page.set_viewport_size(DESKTOP)
    expect(button).to_be_hidden()
    expect(menu).to_be_visible()


def test_without_javascript_the_menu_stays_open(browser, live, company_admin):
    context = browser.new_context(base_url=live.url, locale="fr-FR", java_script_enabled=False, viewport=PHONE)
    try:
        page = context.new_page()
        logged_in(page)
        expect(page.get_by_role("navigation", name="Menu principal")).to_be_visible()
        expect(page.get_by_role("button", name="Menu", exact=True)).to_be_hidden()
    finally:
        context.close()


def test_the_pages_the_footer_links_to_pass_axe_at_phone_width(new_page, company_admin, tariffs):
    page = new_page()
    page.set_viewport_size(PHONE)
    logged_in(page)
    footer = page.get_by_role("navigation", name="Pied de page")
    expect(footer.get_by_role("link", name="Nous contacter")).to_have_attribute(
        "href", "mailto:contact-hubprotransport@ingroupe.com")
    for link, heading in FOOTER_PAGES:
        footer.get_by_role("link", name=link).click()
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        expect(page.get_by_role("button", name="Menu", exact=True)).to_have_attribute("aria-expanded", "false")
        assert axe_violations(page) == [], heading
        footer = page.get_by_role("navigation", name="Pied de page")


def test_the_pages_the_footer_links_to_pass_axe_for_a_visitor(new_page, live, tariffs):
    page = new_page()
    page.set_viewport_size(DESKTOP)
    page.goto("/")
    assert page.locator("nav:not([aria-label])").count() == 0
    for link, heading in FOOTER_PAGES:
        page.get_by_role("navigation", name="Pied de page").get_by_role("link", name=link).click()
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        assert axe_violations(page) == [], heading
    page.get_by_role("navigation", name="Pied de page").get_by_role("link", name="CGV").click()
    prices = page.get_by_role("region", name="Prix des cartes et prestations")
    expect(prices.get_by_role("row").filter(has_text="Carte de qualification de conducteur (CQC)").first).to_contain_text("33,89")


def test_a_consent_box_opens_its_document_in_a_new_tab_and_the_form_keeps_what_was_typed(new_page, live):
    page = new_page()
    page.goto("/creer-un-compte/particulier")
    field(page, "Nom").fill("Martin")
    field(page, "Adresse électronique").fill("paul.martin@exemple.fr")
    cgu = page.get_by_role("link", name="conditions générales d'utilisation du portail (CGU) (nouvelle fenêtre)")
    with page.context.expect_page() as opened:
        cgu.click()
    terms = opened.value
    expect(terms.get_by_role("heading", name="Conditions générales d'utilisation du portail", level=1)).to_be_visible()
    expect(terms.get_by_text("Version 1.0 en vigueur depuis le 30/11/2026.")).to_be_visible()
    terms.close()
    expect(field(page, "Nom")).to_have_value("Martin")
    expect(field(page, "Adresse électronique")).to_have_value("paul.martin@exemple.fr")
    expect(page.get_by_role("checkbox", name="(CGU)")).not_to_be_checked()  # following the link ticks nothing
