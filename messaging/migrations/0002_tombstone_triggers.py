from django.db import migrations


def install(apps, schema_editor):
    from messaging.triggers import install_tombstone_triggers

    install_tombstone_triggers(schema_editor)


def remove(apps, schema_editor):
    from messaging.triggers import remove_tombstone_triggers

    remove_tombstone_triggers(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
