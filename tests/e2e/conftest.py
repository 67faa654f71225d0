"""End-to-end fixtures: the app served on a real port, a real SMTP server, and Chromium driven by Playwright.

The browser tests read every link from the e-mails this SMTP server receives, as a person would.
"""
import contextlib
import email
import os
import re
import socket
import threading
from email import policy

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import sync_playwright
from werkzeug.serving import WSGIRequestHandler, make_server

from app import create_app
from models import db
from tests.conftest import empty_database, make_config

#: Debian's Chromium; the tests skip when it is missing (never `playwright install`).
CHROMIUM = "/usr/bin/chromium"

TEST_PASSWORD = "Correct-Horse-42!"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- The SMTP test server ---------------------------------------------------------------------


class Mailbox:
    """An aiosmtpd handler keeping every message received, parsed."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        with self.lock:
            self.messages.append(
                {
                    "to": str(message["To"]),
                    "rcpt_tos": list(envelope.rcpt_tos),
                    "subject": str(message["Subject"]),
                    "text": text.get_content() if text is not None else "",
                    "html": html.get_content() if html is not None else "",
                }
            )
        return "250 Message accepted for delivery"

    def clear(self):
        with self.lock:
            self.messages.clear()


@pytest.fixture(scope="module")
def smtp_server():
    handler = Mailbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


# --- The live application ---------------------------------------------------------------------


class LiveServer:
    """The application served by werkzeug in a thread, and the helpers the tests use with it."""

    def __init__(self, app, url, mailbox):
        self.app = app
        self.url = url
        self.mailbox = mailbox
        self._seen = 0

    @contextlib.contextmanager
    def database(self):
        """An app context with a database connection, for setting up data as the operators would."""
        with self.app.app_context():
            db.connect(reuse_if_open=True)
            try:
                yield
            finally:
                if not db.is_closed():
                    db.close()

    def reset(self):
        with self.database():
            empty_database()
        self.mailbox.clear()
        self._seen = 0

    def deliver(self):
        """Run the outbox job once (real SMTP) and return the e-mails received since the last call."""
        from services import outbox

        with self.database():
            counts = outbox.dispatch()
        assert counts["failed"] == 0, f"envoi en échec : {counts}"
        with self.mailbox.lock:
            new = list(self.mailbox.messages[self._seen:])
            self._seen = len(self.mailbox.messages)
        return new


class QuietHandler(WSGIRequestHandler):
    """Serve without logging every request (errors still reach the log)."""

    def log_request(self, code="-", size="-"):
        pass


@pytest.fixture(scope="module")
def live_server(database_url, tmp_path_factory, smtp_server):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(
        make_config(
            database_url,
            tmp_path_factory.mktemp("e2e"),
            WTF_CSRF_ENABLED=True,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=smtp_server.port,
            PUBLIC_BASE_URL=url,
        )
    )
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    live = LiveServer(app, url, smtp_server.handler)
    try:
        yield live
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def live(live_server):
    """The live server with an empty database and an empty mailbox for this test."""
    live_server.reset()
    return live_server


@pytest.fixture
def deliver(live):
    return live.deliver


def link_in(message, after=None):
    """Return the first link of an e-mail's text part (the first one following ``after`` when given)."""
    text = message["text"]
    if after is not None:
        assert after in text, f"« {after} » absent du courrier électronique :\n{text}"
        text = text[text.index(after):]
    links = re.findall(r"https?://[^\s<>\"]+", text)
    assert links, f"aucun lien dans le courrier électronique :\n{message['text']}"
    return links[0]


def only_email(messages, to, subject=None):
    """Return the single message sent to ``to`` (with this subject, when given) among ``messages``."""
    found = [m for m in messages if m["to"] == to and (subject is None or m["subject"] == subject)]
    assert len(found) == 1, f"attendu un courrier à {to} ({subject}), reçus : {[(m['to'], m['subject']) for m in messages]}"
    return found[0]


# --- The browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium absent ({CHROMIUM}) : tests de bout en bout ignorés.")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_page(browser, live):
    """Open a fresh browser session (its own cookies, a browser in French unless another locale is given) on the live
    server; closed after the test.

    A server error (HTTP 5xx), a JavaScript error or anything the Content-Security-Policy refused, on any page,
    fails the test.
    """
    contexts = []
    problems = []

    def open_page(locale="fr-FR"):
        context = browser.new_context(base_url=live.url, locale=locale, timezone_id="Europe/Paris")
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("response", lambda r: problems.append(f"HTTP {r.status} : {r.request.method} {r.url}") if r.status >= 500 else None)
        page.on("pageerror", lambda error: problems.append(f"Erreur JavaScript sur {page.url} : {error}"))
        page.on("console", lambda message: problems.append(f"Refusé par la CSP sur {page.url} : {message.text}")
                if "Content Security Policy" in message.text else None)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not problems, "\n".join(problems)


def open_menu(page, category, entry):
    """Open a back-office page through its menu, once the page's scripts (the drop-downs) are loaded."""
    page.wait_for_load_state()
    page.get_by_role("link", name=category).click()
    page.get_by_role("link", name=entry, exact=True).click()


# --- Accessibility ------------------------------------------------------------------------------

AXE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "node_modules", "axe-core", "axe.min.js")


def axe_violations(page, impacts=("critical", "serious")):
    """Run axe-core (WCAG 2.1 A and AA rules) on the page as it stands; return its violations of these impacts.

    The script is evaluated through the browser's debugging protocol, so the page's Content-Security-Policy
    (which allows no inline script) does not stand in its way.
    """
    # Colours are checked as they end: a transition still running (a loaded machine) would be measured half-way.
    page.add_style_tag(content="*, *::before, *::after { transition: none !important; animation: none !important; }")
    with open(AXE, encoding="utf-8") as handle:
        page.evaluate(handle.read())
    result = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        f"{v['impact']} {v['id']}: {v['help']} ({', '.join(n['target'][0] for n in v['nodes'][:3])})"
        for v in result["violations"] if v["impact"] in impacts
    ]
