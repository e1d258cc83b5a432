from django.db import migrations, models


class Migration(migrations.Migration):
    """Restore drills and maintenance runs record their worker and heartbeat.

    A row left running by an earlier version has no worker: its next reader
    fails it as "worker died" once ``TALOWA_WORKER_HEARTBEAT_LIMIT`` has
    passed since it started (a deployment restarts its workers).
    """

    dependencies = [
        ("recovery", "0005_sidecar_checks"),
    ]

    operations = [
        migrations.AddField(
            model_name="restoredrill",
            name="worker",
            field=models.CharField(blank=True, editable=False, max_length=200),
        ),
        migrations.AddField(
            model_name="restoredrill",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="maintenancerun",
            name="error",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="maintenancerun",
            name="worker",
            field=models.CharField(blank=True, editable=False, max_length=200),
        ),
        migrations.AddField(
            model_name="maintenancerun",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
