"""Track account changes and take ``updated_at`` from the database's clock.

Adds ``AccountChange`` and the triggers of ``messaging.triggers`` installed
by ``install_change_triggers``: the stamp triggers of the messaging tables,
and the change and delete triggers of ``auth_user``. Every existing account
gets a stamp now, so the first incremental after this migration carries each
account once (the parent may predate changes no trigger saw).
"""

from django.conf import settings
from django.db import migrations, models


def install(apps, schema_editor):
    from messaging.triggers import install_change_triggers

    install_change_triggers(schema_editor)
    now = (
        "now()"
        if schema_editor.connection.vendor == "postgresql"
        else "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"
    )
    schema_editor.execute(
        "INSERT INTO messaging_accountchange (user_id, updated_at) "
        f"SELECT id, {now} FROM auth_user"
    )


def remove(apps, schema_editor):
    from messaging.triggers import remove_change_triggers

    remove_change_triggers(schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0003_drop_indexes_covered_by_composite_ones"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AccountChange",
            fields=[
                ("user_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("updated_at", models.DateTimeField(db_index=True)),
            ],
        ),
        migrations.RunPython(install, remove),
    ]
