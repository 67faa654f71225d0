"""E-mails and SMS: written to the outbox in the caller's transaction, sent later by the outbox job."""
import json
import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app, render_template

from models import Channel, Notification, OutboxMessage, OutboxStatus
from models import clock, deadlines
from services import sms, storage

log = logging.getLogger("hubpro.outbox")

def public_url(endpoint, **values):
    """Return an absolute link for e-mails, built on PUBLIC_BASE_URL (works outside a request)."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def queue_email(recipient, template, subject, attachments=(), **context):
    """Render mail/<template>.html and .txt and queue the e-mail in the current transaction.

    ``attachments`` are (stored path, file name, content type) of files already in the storage.
    """
    context.setdefault("subject", subject)
    return OutboxMessage.create(
        channel=Channel.EMAIL,
        recipient=recipient,
        subject=subject,
        body_text=render_template(f"mail/{template}.txt", **context),
        body_html=render_template(f"mail/{template}.html", **context),
        attachments=json.dumps([{"path": p, "filename": f, "content_type": c} for p, f, c in attachments]),
    )


def queue_sms(number, text):
    """Queue an SMS in the current transaction."""
    return OutboxMessage.create(channel=Channel.SMS, recipient=number, body_text=text)


def notify(user, message, *, link="", template, subject, sms_text=None, **context):
    """Tell a public account holder: a home-page notification, an e-mail, and an SMS when asked.

    What concerns the work of a deleted member goes to their organisation's administrators.
    """
    notify_many([dict(context, user=user, message=message, link=link, template=template, subject=subject,
                      sms_text=sms_text)])


def notify_many(news):
    """Tell many holders at once: ``news`` are notify()'s arguments as dicts (its driver joined to each user).

    Their notifications and messages are written with one statement per table, in the caller's transaction.
    """
    notifications, messages = [], []
    for item in news:
        context = dict(item)
        user, sms_text, template = context.pop("user"), context.pop("sms_text", None), context.pop("template")
        context.setdefault("link", "")
        recipients = [user] if user.deleted_at is None else list(user.organisation.administrators())
        for recipient in recipients:
            notifications.append({"user": recipient.id, "message": context["message"], "link": context["link"]})
            rendered = {**context, "user": recipient}
            messages.append({
                "channel": Channel.EMAIL, "recipient": recipient.email, "subject": context["subject"], "attachments": "[]",
                "body_text": render_template(f"mail/{template}.txt", **rendered),
                "body_html": render_template(f"mail/{template}.html", **rendered),
            })
            mobile = recipient.driver.mobile if recipient.driver else ""
            if sms_text and mobile:
                messages.append({"channel": Channel.SMS, "recipient": mobile, "subject": "", "attachments": "[]",
                                 "body_text": sms_text, "body_html": ""})
    if notifications:
        Notification.insert_many(notifications).execute()
    if messages:
        OutboxMessage.insert_many(messages).execute()


def _lease():
    return clock.now() + deadlines.OUTBOX_LEASE


def _claim(message):
    """Take a message for this dispatcher; False if another dispatcher holds it."""
    now = clock.now()
    return (
        OutboxMessage.update(lease_until=_lease())
        .where(
            OutboxMessage.id == message.id,
            OutboxMessage.status == OutboxStatus.PENDING,
            (OutboxMessage.lease_until.is_null()) | (OutboxMessage.lease_until < now),
        )
        .execute()
        == 1
    )


def _as_mime(message):
    mime = EmailMessage()
    mime["Subject"] = message.subject
    mime["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    mime["To"] = message.recipient
    mime["Message-ID"] = make_msgid(domain="hubpro-transport.fr")
    mime.set_content(message.body_text)
    if message.body_html:
        mime.add_alternative(message.body_html, subtype="html")
    for item in json.loads(message.attachments or "[]"):
        maintype, subtype = item["content_type"].split("/", 1)
        mime.add_attachment(storage.read(item["path"]), maintype=maintype, subtype=subtype, filename=item["filename"])
    return mime


def _smtp():
    config = current_app.config
    server = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=20)
    if config["MAIL_USE_TLS"]:
        server.starttls()
    if config["MAIL_USERNAME"]:
        server.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
    return server


def _failed(message, error):
    attempts = message.attempts + 1
    gave_up = attempts >= deadlines.OUTBOX_MAX_ATTEMPTS
    wait = deadlines.OUTBOX_BACKOFF[min(attempts, len(deadlines.OUTBOX_BACKOFF)) - 1]
    OutboxMessage.update(
        attempts=attempts,
        status=OutboxStatus.FAILED if gave_up else OutboxStatus.PENDING,
        next_attempt_at=clock.now() + wait,
        lease_until=None,
        last_error=str(error)[:2000],
    ).where(OutboxMessage.id == message.id).execute()
    log.warning("Envoi échoué (%s, tentative %s) à %s : %s", message.channel, attempts, message.recipient, error)


def _done(message, status):
    OutboxMessage.update(
        status=status, sent_at=clock.now(), attempts=message.attempts + 1, lease_until=None, last_error=""
    ).where(OutboxMessage.id == message.id).execute()


def dispatch(limit=200):
    """Send the messages that are due; return counts of sent, kept, failed."""
    counts = {"sent": 0, "kept": 0, "failed": 0}
    now = clock.now()
    due = list(
        OutboxMessage.select()
        .where(
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.next_attempt_at <= now,
            (OutboxMessage.lease_until.is_null()) | (OutboxMessage.lease_until < now),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    mine = [m for m in due if _claim(m)]
    emails = [m for m in mine if m.channel == Channel.EMAIL]
    for message in [m for m in mine if m.channel == Channel.SMS]:
        counts[_send_sms(message)] += 1
    if not emails:
        return counts
    if not current_app.config["MAIL_SERVER"]:
        for message in emails:
            _print(message)
            _done(message, OutboxStatus.KEPT)
            counts["kept"] += 1
        return counts
    try:
        server = _smtp()
    except (OSError, smtplib.SMTPException) as error:
        for message in emails:
            _failed(message, f"Serveur de messagerie injoignable : {error}")
            counts["failed"] += 1
        return counts
    with server:
        for message in emails:
            try:
                server.send_message(_as_mime(message))
            except (OSError, smtplib.SMTPException) as error:
                _failed(message, error)
                counts["failed"] += 1
            else:
                _done(message, OutboxStatus.SENT)
                counts["sent"] += 1
    return counts


def _send_sms(message):
    try:
        kept = sms.send(message.recipient, message.body_text)
    except sms.SmsError as error:
        _failed(message, error)
        return "failed"
    _done(message, OutboxStatus.KEPT if kept else OutboxStatus.SENT)
    return "kept" if kept else "sent"


def _print(message):
    """Show an e-mail on the console when there is no mail server (the embedded default)."""
    print(
        f"\n--- E-mail (non envoyé : pas de MAIL_SERVER) ---\nÀ : {message.recipient}\n"
        f"Objet : {message.subject}\n\n{message.body_text}\n--- fin ---",
        flush=True,
    )
