"""gunicorn's settings for Hub Pro Transport in production: `gunicorn -c gunicorn.conf.py` (README, « Production »).

Each value can be changed through the environment named next to it; the proxy settings follow the application's own
TRUSTED_PROXIES, so gunicorn and the app trust the same front ends.
"""
import multiprocessing
import os

wsgi_app = "app:create_app()"

#: Where the load balancer reaches this machine (GUNICORN_BIND: « 10.0.0.11:8000 », several separated by commas).
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000").split(",")
#: Worker processes (WEB_CONCURRENCY), by default two per processor and one more, at most 9: each opens its own
#: connections to PostgreSQL (peewee's pool), whose max_connections must hold every worker of every machine.
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 9))
#: Threads per worker (GUNICORN_THREADS): above 1, gunicorn runs its threaded worker; peewee keeps a connection per
#: thread.
threads = int(os.environ.get("GUNICORN_THREADS", "1"))

#: A request that takes longer (a PDF made by wkhtmltopdf, a 12 MB upload on a slow line) has its worker restarted.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
#: On a restart or a stop, the requests under way get this long to finish.
graceful_timeout = 30
#: Below the load balancer's idle timeout (60 s on most), so that gunicorn, not the balancer, closes idle connections.
keepalive = 5
#: Each worker is replaced after about this many requests (a few minutes of a busy worker): memory a library leaks
#: never adds up. A replacement costs its worker half a second of a processor and its first pages: at 2,000, a worker
#: serving 500 pages a second was replaced every 4 seconds, one page in ten waited behind it (p90 at 100 ms).
max_requests = 100_000
max_requests_jitter = 10_000
#: The app is built in each worker, after the fork: a connection opened in the master (the production checks)
#: would otherwise be shared by every worker.
preload_app = False


def on_starting(server):
    """Import the application's code once, in the master: a new worker, forked from it, only builds the app."""
    import admin_views  # noqa: F401
    import app  # noqa: F401
    import jobs  # noqa: F401
    import public_forms  # noqa: F401

#: How many proxies stand in front (the app's TRUSTED_PROXIES): the app reads X-Forwarded-For/-Proto/-Host itself
#: (ProxyFix, that many hops), and gunicorn trusts the same headers, from the addresses in FORWARDED_ALLOW_IPS
#: (by default any: only the load balancer can reach the bound address) and from none without a proxy.
_trusted_proxies = int(os.environ.get("TRUSTED_PROXIES", "0") or 0)
if _trusted_proxies:
    forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "*")
    secure_scheme_headers = {"X-FORWARDED-PROTO": "https"}
else:
    forwarded_allow_ips = ""
    secure_scheme_headers = {}
proxy_protocol = False
#: Only the app's forwarded headers count: never a SCRIPT_NAME or PATH_INFO set by a client.
forwarder_headers = ""

#: The app writes one JSON line per request (method, path, status, duration, request id, account): no access log.
accesslog = None
#: gunicorn's own messages (workers started, stopped, timed out) as JSON lines too, on standard error.
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "services.observability.JsonFormatter"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
}
#: No control socket: operators manage the service with systemd (HUP to reload, TERM to stop).
control_socket_disable = True
