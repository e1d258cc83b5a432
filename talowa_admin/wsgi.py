"""WSGI entry point for TALOWA Admin."""

from __future__ import annotations

import os
from importlib import import_module

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "talowa_admin.settings")

application = get_wsgi_application()
# The URLconf, and with it the admin (talowa_admin.urls), loads now rather than
# at the first request: a new worker answers its first request as fast as any,
# and gunicorn freezes what start-up made (deploy/gunicorn.conf.py).
import_module(settings.ROOT_URLCONF)
