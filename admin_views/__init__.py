"""The back office (Flask-Admin, in French), built inside the factory."""
import os

from flask import g
from flask_admin import Admin
from flask_admin import babel as admin_babel
from flask_admin.theme import Bootstrap4Theme

from admin_views.accounts import AccountArchiveView, AccountQueueView
from admin_views.cards import CardView
from admin_views.contracts import ContractQueue
from admin_views.home import StaffHomeView
from admin_views.money import InvoiceView, PaymentNotificationView, PaymentView, TariffView
from admin_views.monitoring import AuditView, JobRunView, OutboxView
from admin_views.referentials import ApprovalView, NewsView, ProcedureView, SireneView, SubscriptionView
from admin_views.replacements import ReplacementRequestView
from admin_views.requests import CqcRequestView
from admin_views.staff import StaffView
from admin_views.tachographs import TachographQueue
from models import (
    Approval, AuditLog, Card, Dossier, JobRun, Invoice, News, OutboxMessage, Payment, PaymentNotification, Procedure,
    SireneEstablishment, Staff, Subscription, Tariff,
)

#: Flask-Admin's messages in French, as the back office words them (translations/fr/LC_MESSAGES/admin.po).
TRANSLATIONS = os.path.join(os.path.dirname(__file__), "translations")


def use_french_messages():
    """Make Flask-Admin read our French catalogue after its own, so that ours has the last word on each message."""
    # Admin(translations_path=…) would put ours first, where Flask-Admin's stale admin.mo overrides it, and only
    # while a view is current: its domain caches the first catalogue asked for, for every later request.
    directories = admin_babel.domain._translation_directories
    if TRANSLATIONS not in directories:
        directories.append(TRANSLATIONS)
        admin_babel.domain.cache.clear()


def init_admin(app):
    """Build the back office on this app."""
    use_french_messages()
    admin = Admin(
        app,
        name="Hub Pro Transport · Back-office",
        theme=Bootstrap4Theme(base_template="admin/staff_base.html", fluid=True),
        index_view=StaffHomeView(name="Accueil", url="/admin"),
        # Flask-Admin's own scripts carry the nonce of the page's Content-Security-Policy (app._init_security).
        csp_nonce_generator=lambda: g.get("csp_nonce", ""),
    )
    admin.add_view(AccountQueueView(Dossier, name="Comptes à analyser", endpoint="account_queue", category="Comptes particuliers"))
    admin.add_view(AccountArchiveView(Dossier, name="Tous les comptes", endpoint="all_accounts", category="Comptes particuliers"))
    admin.add_view(CqcRequestView(Dossier, name="Demandes de CQC", endpoint="cqc_requests", category="Télédossiers"))
    admin.add_view(ReplacementRequestView(Dossier, name="Remplacements", endpoint="replacement_requests", category="Télédossiers"))
    admin.add_view(TachographQueue(Dossier, name="Cartes tachygraphe", endpoint="tachograph_requests", category="Télédossiers"))
    admin.add_view(CardView(Card, name="Cartes", endpoint="cards_admin", category="Télédossiers"))
    admin.add_view(ContractQueue(Dossier, name="Contrats", endpoint="contracts", category="Établissements"))
    admin.add_view(ApprovalView(Approval, name="Agréments", endpoint="approvals", category="Référentiels"))
    admin.add_view(SireneView(SireneEstablishment, name="Registre Sirene", endpoint="sirene", category="Référentiels"))
    admin.add_view(ProcedureView(Procedure, name="Démarches", endpoint="procedures", category="Référentiels"))
    admin.add_view(NewsView(News, name="Nouveautés", endpoint="news", category="Référentiels"))
    admin.add_view(StaffView(Staff, name="Agents et habilitations", endpoint="staff", category="Administration"))
    admin.add_view(SubscriptionView(Subscription, name="Abonnements", endpoint="subscriptions", category="Administration"))
    admin.add_view(TariffView(Tariff, name="Tarifs", endpoint="tariffs", category="Finances"))
    admin.add_view(PaymentView(Payment, name="Paiements", endpoint="payments_admin", category="Finances"))
    admin.add_view(InvoiceView(Invoice, name="Factures et avoirs", endpoint="invoices_admin", category="Finances"))
    admin.add_view(PaymentNotificationView(PaymentNotification, name="Notifications de paiement", endpoint="payment_notifications", category="Finances"))
    admin.add_view(OutboxView(OutboxMessage, name="Boîte d'envoi", endpoint="outbox", category="Suivi"))
    admin.add_view(AuditView(AuditLog, name="Journal d'audit", endpoint="audit", category="Suivi"))
    admin.add_view(JobRunView(JobRun, name="Tâches planifiées", endpoint="job_runs", category="Suivi"))
    return admin
