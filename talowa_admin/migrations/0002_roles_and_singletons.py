from django.db import migrations

GENESIS_HASH = "0" * 64


def create(apps, schema_editor):
    from talowa_admin.roles import sync_roles

    apps.get_model("talowa_admin", "AuditChainHead").objects.get_or_create(
        id=1, defaults={"last_event_id": 0, "last_hash": GENESIS_HASH}
    )
    apps.get_model("talowa_admin", "SystemSettings").objects.get_or_create(id=1)
    # Groups now; permissions of later migrations are added after each migrate.
    sync_roles(apps)


def remove(apps, schema_editor):
    from talowa_admin.roles import ROLES

    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("talowa_admin", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create, remove)]
