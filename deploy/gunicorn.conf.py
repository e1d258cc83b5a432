"""gunicorn settings for TALOWA Admin (``gunicorn -c deploy/gunicorn.conf.py``).

Used by ``make serve``, ``bench/load.py`` and ``deploy/talowa-web.service``.
The command line may override any of them (``--bind``, ``--workers``).
Environment: ``WEB_CONCURRENCY`` (worker processes, gunicorn's own variable;
default 2), ``TALOWA_WEB_TIMEOUT`` (seconds a request may take; default 60).
See docs/deployment.md.
"""

from __future__ import annotations

import os

wsgi_app = "talowa_admin.wsgi:application"
bind = ["127.0.0.1:8000"]

# Sync workers: every view is short and database-bound, and export downloads
# go out through the wsgi.file_wrapper (sendfile). Put a buffering reverse
# proxy (nginx, a cloud load balancer) in front so slow clients cannot hold a
# worker. About 2 x cores + 1 workers per host is gunicorn's rule of thumb.
worker_class = "sync"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("TALOWA_WEB_TIMEOUT", "60"))
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then, staggered, so a slow leak cannot grow forever.
# Not too often: a new worker spends about a second of CPU starting Django
# while the others serve its share (at 2,000, each of bench/load.py's 2 busy
# workers restarted about once a minute). A worker's RSS stays flat over the
# load test, so tens of thousands of requests are safe.
max_requests = 20000
max_requests_jitter = 2000

# Logs go to stdout/stderr (journald under systemd). The access log leaves
# out query strings and the client's headers: no cookie or form value there.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("TALOWA_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'

# X-Forwarded-* headers are trusted only from the proxy on this host; set
# FORWARDED_ALLOW_IPS (gunicorn's variable) to the load balancer's addresses.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# gunicorn's control socket (for gunicornc) defaults to one path per user,
# which several instances on a host would fight over; nothing here uses it.
control_socket_disable = True


def post_worker_init(worker) -> None:
    """Freeze what starting Django made, as ``manage.py`` does.

    The app, its settings and the URL resolver live as long as the worker;
    frozen (``gc.freeze``), the garbage collector stops walking them again in
    every full collection during requests.
    """
    import gc

    gc.freeze()
