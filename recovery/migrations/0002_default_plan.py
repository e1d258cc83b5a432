from django.db import migrations

STEPS = [
    {"action": "verify_chain", "title": "Verify the backup chain"},
    {"action": "pre_restore_backup", "title": "Back up the current data"},
    {"action": "restore", "title": "Restore conversations, messages, calls, media",
     "data_types": ["conversations", "messages", "call_history", "media_files"]},
    {"action": "validate_integrity", "title": "Validate the restored data"},
    {"action": "notify", "title": "Record the outcome"},
]


def create(apps, schema_editor):
    apps.get_model("recovery", "RecoveryPlan").objects.get_or_create(
        name="Full system recovery",
        defaults={"steps": STEPS, "is_default": True,
                  "description": "Verify, back up what is there, restore every "
                  "data type in one transaction, validate, record."},
    )


def remove(apps, schema_editor):
    apps.get_model("recovery", "RecoveryPlan").objects.filter(
        name="Full system recovery").delete()


class Migration(migrations.Migration):
    dependencies = [("recovery", "0001_initial")]

    operations = [migrations.RunPython(create, remove)]
