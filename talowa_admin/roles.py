"""The three staff roles of DESIGN.md, as Django groups with fixed permissions.

``ROLE_PERMISSIONS`` is the single source: the data migration and every later
``migrate`` (through ``sync_roles_after_migrate``) make the groups match it, so
a permission added by a later migration reaches its role without more code.
End users are not staff and belong to no role.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

BACKUP_VIEWER = "Backup viewer"
BACKUP_OPERATOR = "Backup operator"
RECOVERY_ADMIN = "Recovery admin"
ROLES = (BACKUP_VIEWER, BACKUP_OPERATOR, RECOVERY_ADMIN)

_VIEWER = {
    "talowa_admin.view_dashboard",
    "talowa_admin.view_systemsettings",
    "backups.view_backup",
    "backups.view_backupschedule",
    "backups.view_backupschedulerun",
    "backups.view_exportjob",
    "backups.view_storagemigration",
    "recovery.view_recoveryplan",
    "recovery.view_recoveryrun",
    "recovery.view_restoredrill",
    "recovery.view_maintenancerun",
    "recovery.view_healthsnapshot",
    "retention.view_retentionpolicy",
    "django_q.view_schedule",
    "django_q.view_success",
    "django_q.view_failure",
}
_OPERATOR = _VIEWER | {
    "backups.run_backup",
    "backups.verify_backup",
    "backups.export_data",
    "backups.add_backupschedule",
    "backups.change_backupschedule",
    "backups.delete_backupschedule",
    "talowa_admin.view_auditevent",
    "auth.view_user",
}
_RECOVERY = _OPERATOR | {
    "backups.restore_backup",
    "backups.expire_backup",
    "backups.delete_backup",
    "backups.rotate_keys",
    "recovery.add_recoveryplan",
    "recovery.change_recoveryplan",
    "recovery.run_recovery",
    "retention.manage_legal_hold",
    "retention.view_legalhold",
    "retention.add_retentionpolicy",
    "retention.change_retentionpolicy",
    "retention.add_legalhold",
    "retention.change_legalhold",
    "retention.view_legalbound",
    "retention.add_legalbound",
    "retention.change_legalbound",
    "retention.view_cleanuprun",
    "retention.view_archivebatch",
    "retention.restore_archivebatch",
    "talowa_admin.change_systemsettings",
    "messaging.view_conversation",
    "messaging.view_participant",
    "messaging.view_message",
    "messaging.view_callrecord",
    "messaging.view_mediafile",
    "messaging.view_tombstone",
}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    BACKUP_VIEWER: frozenset(_VIEWER),
    BACKUP_OPERATOR: frozenset(_OPERATOR),
    RECOVERY_ADMIN: frozenset(_RECOVERY),
}


def sync_roles(apps) -> None:
    """Create the role groups and give each exactly its listed permissions.

    Permissions that do not exist yet (their model arrives in a later
    migration) are skipped; the next ``migrate`` adds them.
    """
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    labels = set().union(*ROLE_PERMISSIONS.values())
    # One query for every listed permission, not one per permission: this
    # runs after every ``migrate`` (and every flush of a test database).
    existing = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in permission_model.objects.filter(
            codename__in={label.split(".", 1)[1] for label in labels}
        ).values_list("pk", "content_type__app_label", "codename")
    }
    for role, wanted in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        group.permissions.set([existing[name] for name in wanted if name in existing])


def sync_roles_after_migrate(sender, *, apps=None, using="default", **kwargs) -> None:
    """Re-sync the groups once ``migrate`` has created new permissions.

    ``apps`` is the state the migrations reached: a partial ``migrate`` may
    leave the content types table older than the current model, so the
    permissions are created through the models of that state, as Django's
    own ``post_migrate`` handler does.
    """
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    state = apps or global_apps
    for config in global_apps.get_app_configs():
        create_permissions(config, verbosity=0, using=using, apps=state)
    sync_roles(state)


def roles_of(user) -> list[str]:
    """Return the role names a user holds, in DESIGN.md's order."""
    names = set(user.groups.values_list("name", flat=True))
    return [role for role in ROLES if role in names]
