"""``backups.services``: every service from one place, each module loaded when asked."""

from __future__ import annotations

import backups.services
from tests.talowa_admin.test_configuration import run_django

ONE_SERVICE = """
import sys

import django

django.setup()
from backups.services.migrating import migrate_backups  # noqa: F401

print("backups.services.creating" in sys.modules, "zstandard" in sys.modules)
"""


def test_every_service_is_found_where_the_package_says():
    assert sorted(backups.services._SERVICES) == sorted(backups.services.__all__)
    for name, module in backups.services._SERVICES.items():
        service = getattr(backups.services, name)
        assert callable(service), name
        assert service.__module__.startswith(f"backups.services.{module}"), name


def test_a_command_that_needs_one_service_imports_no_other(tmp_path):
    done = run_django(ONE_SERVICE, TALOWA_DATA_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]
