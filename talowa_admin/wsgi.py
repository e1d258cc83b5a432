"""WSGI entry point for TALOWA Admin."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "talowa_admin.settings")

application = get_wsgi_application()
