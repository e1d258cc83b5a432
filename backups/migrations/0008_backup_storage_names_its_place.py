"""Catalog entries name the place of their objects, not "the configured one".

Existing entries say "backups", which means the storage TALOWA_BACKUP_STORAGE
names when this migration runs: they get that place's alias
(``backups-file`` or ``backups-s3``), so they stay right after a later switch.
"""

from django.db import migrations, models

import backups.storage


def name_the_place(apps, schema_editor):
    alias = backups.storage.configured_alias()
    if alias != "backups":
        apps.get_model("backups", "Backup").objects.filter(storage="backups").update(
            storage=alias
        )


class Migration(migrations.Migration):
    dependencies = [
        ("backups", "0007_storage_migration"),
    ]

    operations = [
        migrations.AlterField(
            model_name="backup",
            name="storage",
            field=models.CharField(
                default=backups.storage.configured_alias,
                help_text=(
                    "Alias of settings.STORAGES: where the archive and sidecars are."
                ),
                max_length=32,
            ),
        ),
        migrations.RunPython(name_the_place, migrations.RunPython.noop),
    ]
