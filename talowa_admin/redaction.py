"""What counts as a secret on the debug page, in error mail and in diffsettings.

``SecretSettingsFilter`` is Django's ``DEFAULT_EXCEPTION_REPORTER_FILTER``:
the technical 500 page and ``mail_admins`` reports show settings and the
request's META (which, under a WSGI server such as runserver, copies the
process environment) through it, and so does this project's ``diffsettings``.
A value is masked when its name is a secret's name (Django's own patterns,
plus ``SECRET_NAMES``), and the password of any URL is masked wherever it
appears (``REDIS_URL`` inside ``Q_CLUSTER``, say).
"""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

# Every setting or environment variable of this project that holds a secret,
# by name. Django's pattern (API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|
# HTTP_COOKIE) already covers most; the filter adds the rest and a test holds
# it to this list.
SECRET_NAMES = (
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "TALOWA_BACKUP_KEYS",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "secret_key",  # STORAGES["backups"]["OPTIONS"]
    "PASSWORD",  # DATABASES["default"]
    "DATABASE_URL",
    "REDIS_URL",
    "TALOWA_METRICS_TOKEN",
    "TALOWA_ALERT_WEBHOOK_URL",
    "TALOWA_DEMO_PASSWORD",
    "EMAIL_HOST_PASSWORD",
)

_HIDDEN = re.compile(
    "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE"
    "|WEBHOOK|CREDENTIAL|PRIVATE|DSN|DATABASE_URL|REDIS_URL|BROKER_URL",
    flags=re.IGNORECASE,
)
# scheme://user:password@host -> the password part
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")


class SecretSettingsFilter(SafeExceptionReporterFilter):
    """Django's safe filter, knowing this project's secrets."""

    hidden_settings = _HIDDEN

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str):
            cleansed = _URL_PASSWORD.sub(
                lambda m: f"{m['head']}{self.cleansed_substitute}@", cleansed
            )
        return cleansed
