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
max_requests = 2000
max_requests_jitter = 200

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
