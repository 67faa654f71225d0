"""HUBPRO_ENV=production refuses to start while a setting keeps its public default, the sandbox is on, or demo
accounts exist; `flask demo-data` refuses to run there."""
import pytest

from app import DEFAULTS, create_app
from models import Staff, db
from services.production import UnsafeProduction
from tests.conftest import make_config

SAFE = {
    "HUBPRO_ENV": "production",
    "SECRET_KEY": "une-cle-propre-a-ce-site-0123456789abcdef",
    "PAYMENT_SECRET": "un-secret-partage-avec-le-prestataire",
    "PAYMENT_PROVIDER_URL": "https://paiement.exemple.fr/page",
    "PAYMENT_REFUND_URL": "https://paiement.exemple.fr/remboursement",
    "SELLER_NAME": "Émetteur de production",
    "SELLER_ADDRESS": "1 rue de la Paix, 75002 Paris",
    "SELLER_SIREN": "123456782",
    "PUBLIC_BASE_URL": "https://hubpro.exemple.fr",
}


def _start(database_url, tmp_path, **changes):
    return create_app(make_config(database_url, tmp_path, **{**SAFE, **changes}))


def test_production_starts_with_safe_settings_and_asks_staff_for_a_second_factor(app, database_url, tmp_path):
    production = _start(database_url, tmp_path)
    assert production.config["STAFF_SECOND_FACTOR"] is True
    assert production.config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize("setting", ["SECRET_KEY", "PAYMENT_SECRET", "SELLER_NAME", "SELLER_ADDRESS", "SELLER_SIREN"])
def test_production_refuses_a_setting_left_at_its_default(app, database_url, tmp_path, setting):
    with pytest.raises(UnsafeProduction) as refused:
        _start(database_url, tmp_path, **{setting: DEFAULTS[setting]})
    assert setting in str(refused.value) and "Démarrage refusé en production" in str(refused.value)


def test_production_refuses_the_payment_sandbox(app, database_url, tmp_path):
    with pytest.raises(UnsafeProduction, match="PAYMENT_PROVIDER_URL"):
        _start(database_url, tmp_path, PAYMENT_PROVIDER_URL="")


def test_production_refuses_a_provider_without_its_refund_service(app, database_url, tmp_path):
    with pytest.raises(UnsafeProduction, match="PAYMENT_REFUND_URL"):
        _start(database_url, tmp_path, PAYMENT_REFUND_URL="")


def test_production_refuses_plain_http(app, database_url, tmp_path):
    with pytest.raises(UnsafeProduction, match="PUBLIC_BASE_URL"):
        _start(database_url, tmp_path, PUBLIC_BASE_URL="http://hubpro.exemple.fr")


def test_production_names_every_unsafe_setting_at_once(app, database_url, tmp_path):
    with pytest.raises(UnsafeProduction) as refused:
        _start(database_url, tmp_path, SECRET_KEY=None, PAYMENT_SECRET=DEFAULTS["PAYMENT_SECRET"], PAYMENT_PROVIDER_URL="")
    message = str(refused.value)
    assert all(name in message for name in ("SECRET_KEY", "PAYMENT_SECRET", "PAYMENT_PROVIDER_URL"))


def test_production_refuses_to_start_while_demo_accounts_exist(app, database_url, tmp_path):
    Staff.create(email="admin@hubpro-transport.fr", role="local_admin")
    db.close()
    with pytest.raises(UnsafeProduction, match="admin@hubpro-transport.fr"):
        _start(database_url, tmp_path)
    db.connect(reuse_if_open=True)


def test_an_unknown_environment_is_refused(app, database_url, tmp_path):
    with pytest.raises(UnsafeProduction, match="HUBPRO_ENV=prod"):
        _start(database_url, tmp_path, HUBPRO_ENV="prod")


def test_demo_data_refuses_to_run_in_production(app, database_url, tmp_path):
    production = _start(database_url, tmp_path)
    result = production.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code != 0 and "Refusé en production" in result.output
    assert not Staff.select().exists()
