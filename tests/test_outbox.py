"""E-mails: written in the transaction that causes them, sent by the outbox job over real SMTP."""

import pytest
from aiosmtpd.controller import Controller

from models import Channel, OutboxMessage, OutboxStatus, db
from models import clock as clock_service
from services import outbox


class Inbox:
    """An aiosmtpd handler keeping what it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    yield inbox
    controller.stop()


def _queue(to="anne@exemple.fr"):
    return outbox.queue_email(to, "account_in_analysis", "Votre compte est en cours d'analyse",
                              user=type("U", (), {"first_name": "Anne", "last_name": "Martin"})())


def test_the_smtp_server_receives_a_french_html_message_with_a_text_part(smtp):
    _queue()
    assert outbox.dispatch() == {"sent": 1, "kept": 0, "failed": 0}
    (recipients, raw), = smtp.messages
    assert recipients == ["anne@exemple.fr"]
    assert "multipart/alternative" in raw and "text/html" in raw and "text/plain" in raw
    message = OutboxMessage.get()
    assert message.status == OutboxStatus.SENT and message.sent_at is not None


def test_a_change_rolled_back_sends_nothing(smtp, make_driver):
    with pytest.raises(RuntimeError):
        with db.atomic():
            _queue()
            raise RuntimeError("the change failed")
    assert OutboxMessage.select().count() == 0
    outbox.dispatch()
    assert smtp.messages == []


def test_the_smtp_server_down_loses_nothing_and_the_next_run_sends(app, smtp, clock):
    _queue()
    real_port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = _free_port()  # nothing listens there
    assert outbox.dispatch()["failed"] == 1
    message = OutboxMessage.get()
    assert message.status == OutboxStatus.PENDING and message.attempts == 1 and "injoignable" in message.last_error
    app.config["MAIL_PORT"] = real_port
    assert outbox.dispatch()["sent"] == 0  # it waits for its back-off
    clock.advance(minutes=2)
    assert outbox.dispatch()["sent"] == 1
    assert len(smtp.messages) == 1


def test_a_message_is_given_up_after_its_attempts(app, clock):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=_free_port())
    _queue()
    for _ in range(8):
        outbox.dispatch()
        clock.advance(hours=13)
    message = OutboxMessage.get()
    assert message.status == OutboxStatus.FAILED and message.attempts == 8


def test_without_mail_server_messages_stay_in_the_outbox_and_print(app, capsys):
    _queue()
    assert outbox.dispatch() == {"sent": 0, "kept": 1, "failed": 0}
    assert OutboxMessage.get().status == OutboxStatus.KEPT
    assert "Votre compte est en cours d'analyse" in capsys.readouterr().out


def test_a_message_leased_by_another_dispatcher_is_not_sent_twice(smtp):
    message = _queue()
    OutboxMessage.update(lease_until=clock_service.now() + outbox.deadlines.OUTBOX_LEASE).where(
        OutboxMessage.id == message.id).execute()
    assert outbox.dispatch()["sent"] == 0
    assert smtp.messages == []


def test_sms_go_to_the_outbox_by_default(app, capsys):
    outbox.queue_sms("+33612345678", "Hub Pro Transport : une information complémentaire est demandée.")
    assert outbox.dispatch()["kept"] == 1
    message = OutboxMessage.get()
    assert message.channel == Channel.SMS and message.status == OutboxStatus.KEPT
    assert "+33612345678" in capsys.readouterr().out


def test_a_notification_is_in_app_email_and_sms(make_driver):
    from models import Notification

    driver = make_driver(mobile="+33698765432")
    outbox.notify(driver, "Votre demande requiert une information complémentaire.", link="/", template="account_in_analysis",
                  subject="Information complémentaire", sms_text="Hub Pro Transport : information demandée.")
    assert Notification.select().where(Notification.user == driver).count() == 1
    channels = sorted(m.channel for m in OutboxMessage.select().where(OutboxMessage.recipient.in_([driver.email, "+33698765432"])) if m.subject != "Votre demande de création de compte Hub Pro Transport")
    assert channels == ["email", "sms"]


def test_staff_read_each_message_with_clickable_links(client, make_staff, login_staff):
    from models import StaffRole

    admin = make_staff(role=StaffRole.LOCAL_ADMIN)
    member = make_staff(procedures=["COMPTE_PARTICULIER"])
    from services import staff as staff_service
    staff_service.send_activation(member)
    message = OutboxMessage.select().order_by(OutboxMessage.id.desc()).get()
    login_staff(admin)
    listing = client.get("/admin/outbox/").get_data(as_text=True)
    assert "Activez votre compte" in listing
    details = client.get(f"/admin/outbox/details/?id={message.id}").get_data(as_text=True)
    assert f"/admin/outbox/html/{message.id}" in details
    body = client.get(f"/admin/outbox/html/{message.id}")
    assert 'href="http://localhost/mot-de-passe/' in body.get_data(as_text=True)
    policy = body.headers["Content-Security-Policy"]
    assert "sandbox" in policy and "script-src" not in policy and "frame-ancestors 'self'" in policy
