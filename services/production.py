"""What production refuses: the settings whose public defaults would let anyone in, and the demo accounts."""
from models import Staff, User, db

ENVIRONMENTS = ("development", "test", "production")

#: Settings that must be given in production: their defaults are public (in this repository).
REQUIRED = {
    "SECRET_KEY": "la clé qui signe les sessions",
    "PAYMENT_SECRET": "le secret partagé avec le prestataire de paiement",
    "SELLER_NAME": "le nom du vendeur imprimé sur les factures",
    "SELLER_ADDRESS": "l'adresse du vendeur imprimée sur les factures",
    "SELLER_SIREN": "le SIREN du vendeur imprimé sur les factures",
}


class UnsafeProduction(RuntimeError):
    """Production was asked for with settings that would make it unsafe; the message names each of them."""


def problems(config, defaults):
    """Return, in French, each reason this configuration cannot run in production (empty when it can)."""
    found = []
    for name, meaning in REQUIRED.items():
        if not config.get(name) or config.get(name) == defaults.get(name):
            found.append(f"{name} ({meaning}) garde sa valeur par défaut : donnez-lui une valeur propre à ce site.")
    if not config.get("PAYMENT_PROVIDER_URL"):
        found.append("PAYMENT_PROVIDER_URL est vide : le bac à sable de paiement serait ouvert ; "
                     "donnez l'adresse de la page de paiement du prestataire.")
    elif not config.get("PAYMENT_REFUND_URL"):
        found.append("PAYMENT_REFUND_URL est vide : un paiement reçu pour un dossier qui ne l'attendait plus "
                     "ne pourrait pas être remboursé ; donnez l'adresse du service de remboursement du prestataire.")
    if not str(config.get("PUBLIC_BASE_URL", "")).startswith("https://"):
        found.append("PUBLIC_BASE_URL doit commencer par https:// (les cookies de session ne partent qu'en HTTPS).")
    demo = demo_accounts()
    if demo:
        found.append("Des comptes de démonstration existent dans la base (" + ", ".join(demo)
                     + ") : leurs mots de passe sont publics ; supprimez-les.")
    return found


def demo_accounts():
    """Return the addresses of the demo accounts (their passwords are printed by scripts/run.sh) in the database."""
    from services.demo import ACCOUNTS

    emails = [email for _, email, _ in ACCOUNTS]
    if not db.table_exists(User._meta.table_name):
        return []
    found = [u.email for u in User.select(User.email).where(User.email.in_(emails))]
    found += [s.email for s in Staff.select(Staff.email).where(Staff.email.in_(emails))]
    return sorted(found)


def refuse_unsafe(config, defaults):
    """Raise UnsafeProduction, naming every unsafe setting, when production runs with one."""
    found = problems(config, defaults)
    if found:
        raise UnsafeProduction(
            "Démarrage refusé en production (HUBPRO_ENV=production) :\n" + "\n".join(f"  - {line}" for line in found)
        )
