"""Load a demo: seeded messaging data, one staff user per role and an end user.

Idempotent, for development only (refused with ``TALOWA_ENV=production``):
- the messaging data is seeded (``seed_messaging``) only while every messaging
  table is empty, so a re-run never adds to or clashes with existing data;
- the demo accounts are created when missing and otherwise put back into their
  demo shape (flags, role group, password), so the printed logins always work;
- each part of the demo's history while its table is empty
  (``talowa_admin.demo_history``): backups (full and incremental, one
  user's), their verification, a finished recovery run, an export the
  operator asked for, a schedule's run, retention policies, a legal bound and
  hold, a retention cleanup, a restore drill, a maintenance, a storage
  migration and a health history, so that every admin page shows something;
- every account shares one password: ``TALOWA_DEMO_PASSWORD`` if set, else a
  random one generated once into ``TALOWA_DATA_DIR/demo-password.txt`` (0600),
  so re-runs print the same. The password is printed in the text output only,
  never in ``--json`` output (which names the file instead) nor in the audit log.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from django_q.models import Schedule

from backups.models import BackupSchedule
from backups.services.scheduling.defaults import INCREMENTAL
from talowa_admin import roles
from talowa_admin.audit import record_audit_event
from talowa_admin.cli import TalowaCommand
from talowa_admin.demo_history import add_demo_history
from talowa_admin.env import Environment
from talowa_admin.services import initialize_backup_system, update_backup_schedule

PASSWORD_ENV = "TALOWA_DEMO_PASSWORD"
PASSWORD_FILENAME = "demo-password.txt"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Small enough to seed in a few seconds, big enough to make every page look real.
SEED_SIZES = {
    "users": 25,
    "conversations": 60,
    "messages": 3000,
    "calls": 300,
    "media": 120,
    "seed": 42,
}
SEED_ARGS = (
    *(arg for name, n in SEED_SIZES.items() for arg in (f"--{name}", str(n))),
    "--noinput",
)
SEED_COMMAND = "seed_messaging"
END_USER = "asha"
# The seeded user who becomes ``asha`` (so she owns seeded data); any other
# seeded user will do if the seed names its users differently.
SEEDED_END_USER = "seed_user_00001"
SEEDED_USER_PREFIX = "seed_"
HEALTH_CHECK_FUNC = "recovery.tasks.check_system_health"
DEMO_INCREMENTAL_INTERVAL = timedelta(minutes=5)
DEMO_SCHEDULE_LINE = (
    "  Backups run by themselves: the worker takes a backup every 5 minutes "
    "(an incremental),\n  and a full one daily at 02:00 (Backups > Backup "
    "schedules).\n"
)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str  # a name from talowa_admin.roles, "superuser" or "end user"
    is_staff: bool
    is_superuser: bool = False

    @property
    def group(self) -> str | None:
        return self.role if self.role in roles.ROLES else None


STAFF_ACCOUNTS = (
    DemoAccount("admin", "superuser", is_staff=True, is_superuser=True),
    DemoAccount("viewer", roles.BACKUP_VIEWER, is_staff=True),
    DemoAccount("operator", roles.BACKUP_OPERATOR, is_staff=True),
    DemoAccount("recovery", roles.RECOVERY_ADMIN, is_staff=True),
)
END_USER_ACCOUNT = DemoAccount(END_USER, "end user", is_staff=False)


@dataclass(frozen=True)
class DemoPassword:
    value: str
    source: str  # "environment", "file" or "generated"
    path: Path | None


class Command(TalowaCommand):
    help = (
        "Set up a development demo: seed messaging data if there is none, and "
        "create an admin, one staff user per role and the end user 'asha'."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--base-url",
            default=DEFAULT_BASE_URL,
            help=f"Where the site is served, for the printed links "
            f"(default {DEFAULT_BASE_URL}).",
        )

    def handle(self, *args, base_url: str, **options) -> None:
        if settings.TALOWA_ENV == "production":
            raise CommandError(
                "setup_demo creates accounts with a shared, well-known password and "
                "refuses to run with TALOWA_ENV=production."
            )
        _require_migrated()
        seed = self._seed_if_empty()
        password = demo_password()
        with transaction.atomic():
            accounts = [
                (account, ensure_account(account, password=password.value))
                for account in STAFF_ACCOUNTS
            ]
            accounts.append((END_USER_ACCOUNT, ensure_end_user(password=password)))
        schedules = demo_schedules()
        history = self._add_history()
        changed = {a.username: status for a, status in accounts if status != "ok"}
        if changed:
            record_audit_event(
                actor="command:setup_demo",
                action="demo.setup",
                details={"accounts": changed, "seeded": seed is not None},
            )
        self._report(seed, accounts, password, base_url.rstrip("/"), schedules, history)

    def _add_history(self) -> dict[str, Any] | None:
        """Give every admin page something to show (what is missing only)."""
        self.say(
            "Adding the demo's history: backups, a restore, an export, retention, "
            "a restore drill, maintenance and health checks..."
        )
        history = add_demo_history(end_user=END_USER, operator="operator")
        if history is None:
            self.say("The demo's history is present already: nothing added.")
        return history

    def _seed_if_empty(self) -> dict[str, Any] | None:
        """Run ``seed_messaging`` when the messaging tables are all empty."""
        if not messaging_is_empty():
            self.say("Messaging data already present: not seeding.")
            return None
        if SEED_COMMAND not in get_commands():
            self.stderr.write(
                f"Warning: the {SEED_COMMAND} command is not available, so the demo "
                "has no messaging data."
            )
            return None
        self.say(f"Seeding messaging data ({' '.join(SEED_ARGS)})...")
        args = [*SEED_ARGS, "--verbosity", str(self.verbosity)]
        try:
            if not self.json_output:
                call_command(SEED_COMMAND, *args, stdout=self.stdout)
                return {}
            buffer = io.StringIO()
            call_command(SEED_COMMAND, *args, "--json", stdout=buffer)
        except CommandError as exc:
            raise CommandError(f"seeding the demo data failed: {exc}") from exc
        try:
            return json.loads(buffer.getvalue())
        except ValueError:
            return {}

    def _report(
        self,
        seed,
        accounts,
        password: DemoPassword,
        base_url: str,
        schedules,
        history=None,
    ) -> None:
        payload = {
            "schedules": schedules,
            "history": history,
            "seeded": seed is not None,
            "seed": seed or None,
            "accounts": [
                {
                    "username": a.username,
                    "role": a.role,
                    "is_staff": a.is_staff,
                    "status": status,
                }
                for a, status in accounts
            ],
            "created": [a.username for a, status in accounts if status == "created"],
            "password_source": password.source,
            "password_file": str(password.path) if password.path else None,
            "urls": {"admin": f"{base_url}/admin/", "me": f"{base_url}/me/"},
        }
        if self.verbosity < 1 and not self.json_output:
            return
        lines = _login_block(accounts, password, base_url)
        lines.insert(-1, DEMO_SCHEDULE_LINE)
        self.emit(payload, *lines)


def demo_schedules() -> dict[str, str]:
    """Register the default schedules, with incrementals every few minutes.

    So that the demo's worker takes backups by itself while one watches:
    incrementals on top of the demo's backups (a full one when there is no
    backup to build on). Re-running puts the demo interval back.
    """
    outcome = initialize_backup_system(actor="command:setup_demo")["schedules"]
    # The demo's health check ran before its worker started: check again as
    # soon as the worker runs, not an hour later.
    Schedule.objects.filter(func=HEALTH_CHECK_FUNC).update(next_run=timezone.now())
    incremental = BackupSchedule.objects.filter(builtin=INCREMENTAL).first()
    if incremental is not None:
        update_backup_schedule(
            incremental.pk,
            interval=DEMO_INCREMENTAL_INTERVAL,
            enabled=True,
            actor="command:setup_demo",
        )
    return outcome


def _require_migrated() -> None:
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise CommandError(
            "the database has unapplied migrations: run `manage.py migrate` first."
        )


def messaging_is_empty() -> bool:
    """Return whether every table of the messaging app is empty."""
    models = apps.get_app_config("messaging").get_models()
    return not any(model._default_manager.exists() for model in models)


def demo_password() -> DemoPassword:
    """Return the demo password: from the environment, the file, or a new one."""
    value = Environment().str(PASSWORD_ENV)
    if value:
        return DemoPassword(value, "environment", None)
    path = Path(settings.TALOWA_DATA_DIR) / PASSWORD_FILENAME
    path.parent.mkdir(parents=True, exist_ok=True)
    generated = secrets.token_urlsafe(12)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        value = path.read_text(encoding="utf-8").strip()
        if not value:
            raise CommandError(
                f"{path} is empty: delete it to generate a new demo password."
            ) from None
        return DemoPassword(value, "file", path)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(generated + "\n")
    return DemoPassword(generated, "generated", path)


def ensure_account(account: DemoAccount, *, password: str, user=None) -> str:
    """Create or repair one demo account; return created, updated or ok."""
    user_model = get_user_model()
    created = False
    if user is None:
        user = user_model.objects.filter(username=account.username).first()
    if user is None:
        user = user_model(username=account.username)
        created = True
    changed = _apply_flags(user, account) or created
    if created or not user.check_password(password):
        user.set_password(password)
        changed = True
    if changed:
        user.save()
    if account.group and not user.groups.filter(name=account.group).exists():
        user.groups.add(_role_group(account.group))
        changed = True
    if created:
        return "created"
    return "updated" if changed else "ok"


def _apply_flags(user, account: DemoAccount) -> bool:
    wanted = {
        "is_staff": account.is_staff,
        "is_superuser": account.is_superuser,
        "is_active": True,
        "email": user.email or f"{account.username}@example.com",
    }
    changed = False
    for name, value in wanted.items():
        if getattr(user, name) != value:
            setattr(user, name, value)
            changed = True
    return changed


def ensure_end_user(*, password: DemoPassword) -> str:
    """Make ``asha``: the seeded user she replaces, or a new account if none."""
    user_model = get_user_model()
    if user_model.objects.filter(username=END_USER).exists():
        return ensure_account(END_USER_ACCOUNT, password=password.value)
    seeded = _seeded_end_user()
    if seeded is None:
        return ensure_account(END_USER_ACCOUNT, password=password.value)
    former = seeded.username
    seeded.username = END_USER
    ensure_account(END_USER_ACCOUNT, password=password.value, user=seeded)
    seeded.save()
    return f"renamed from {former}"


def _seeded_end_user():
    users = get_user_model().objects.filter(is_staff=False, is_superuser=False)
    return (
        users.filter(username=SEEDED_END_USER).first()
        or users.filter(username__startswith=SEEDED_USER_PREFIX).order_by("id").first()
    )


def _role_group(name: str) -> Group:
    try:
        return Group.objects.get(name=name)
    except Group.DoesNotExist:
        raise CommandError(
            f"the role group {name!r} is missing: run `manage.py migrate`, which "
            "creates the role groups."
        ) from None


def _login_block(accounts, password: DemoPassword, base_url: str) -> list[str]:
    if password.source == "environment":
        origin = f"(from {PASSWORD_ENV})"
    else:
        origin = f"(stored in {password.path}; set {PASSWORD_ENV} to choose one)"
    lines = [
        "",
        "TALOWA Admin demo is ready.",
        "",
        f"  Admin:    {base_url}/admin/",
        f"  My data:  {base_url}/me/  (end users log in at /accounts/login/)",
        "",
        f"  {'Username':<10} {'Role':<17} Status",
    ]
    for account, status in accounts:
        lines.append(f"  {account.username:<10} {account.role:<17} {status}")
    lines += [
        "",
        f"  Password for every user above: {password.value}",
        f"  {origin}",
        "",
    ]
    return lines
