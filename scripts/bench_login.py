"""Time « Connexion » for known and unknown addresses (wrong password), with the production hash (scrypt).

Both should take as long: an unknown address is hashed against a dummy, so timing tells nobody who has an account.
Usage: .venv/bin/python scripts/bench_login.py [--n 30]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from app import create_app  # noqa: E402
from models import Role, User, create_tables  # noqa: E402
from services import passwords  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="tentatives par cas (une par adresse, sous le seuil de blocage)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    app = create_app({"DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3", "HUBPRO_ENV": "test", "SECRET_KEY": "bench",
                      "WTF_CSRF_ENABLED": False, "LOGIN_RATE_LIMIT": "1000000 per minute", "STORAGE_DIR": folder})
    with app.app_context():
        create_tables()
        hashed = passwords.hash_password("Correct-Horse-42!")
        for i in range(args.n):
            User.create(email=f"connu{i}@exemple.fr", role=Role.DRIVER, last_name="A", first_name="B", password_hash=hashed)
    client = app.test_client()

    def attempt(email):
        start = time.perf_counter()
        client.post("/connexion", data={"email": email, "password": "Mauvais-Mot-1!"})
        return (time.perf_counter() - start) * 1000

    known = [attempt(f"connu{i}@exemple.fr") for i in range(args.n)]
    unknown = [attempt(f"inconnu{i}@exemple.fr") for i in range(args.n)]
    print(f"Connexion, mot de passe erroné ({app.config['PASSWORD_HASH_METHOD']}, {args.n} essais) : "
          f"adresse connue {statistics.median(known):.1f} ms, adresse inconnue {statistics.median(unknown):.1f} ms (médianes)")


if __name__ == "__main__":
    main()
