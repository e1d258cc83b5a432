"""The recovery tables and the default plan as 0001 to 0005 leave them.

Django applies this migration instead of the five it replaces when none of
them is applied, and the originals where they are, so existing databases
migrate on as before.

It depends on backups' squashed migration, not on backups 0008 as 0005 does:
a roll-back to one of backups' originals (``migrate backups 0005``) reads the
graph without replacements, where a dependency on 0008 would make this
migration one to roll back as well as the originals it replaces. Where
backups' originals are in use, Django points the dependency at the last of
them.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


STEPS = [
    {"action": "verify_chain", "title": "Verify the backup chain"},
    {"action": "pre_restore_backup", "title": "Back up the current data"},
    {"action": "restore", "title": "Restore conversations, messages, calls, media",
     "data_types": ["conversations", "messages", "call_history", "media_files"]},
    {"action": "validate_integrity", "title": "Validate the restored data"},
    {"action": "notify", "title": "Record the outcome"},
]


def create_default_plan(apps, schema_editor):
    apps.get_model("recovery", "RecoveryPlan").objects.get_or_create(
        name="Full system recovery",
        defaults={"steps": STEPS, "is_default": True,
                  "description": "Verify, back up what is there, restore every "
                  "data type in one transaction, validate, record."},
    )


def remove_default_plan(apps, schema_editor):
    apps.get_model("recovery", "RecoveryPlan").objects.filter(
        name="Full system recovery").delete()


class Migration(migrations.Migration):

    replaces = [('recovery', '0001_initial'), ('recovery', '0002_default_plan'), ('recovery', '0003_recovery_run_worker_and_applied_at'), ('recovery', '0004_drills_health_history_maintenance'), ('recovery', '0005_sidecar_checks')]

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('backups', '0001_squashed_0009_schedule_run_heartbeat'),
    ]

    operations = [
        migrations.CreateModel(
            name='RecoveryPlan',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, unique=True)),
                ('description', models.TextField(blank=True)),
                ('steps', models.JSONField(default=list)),
                ('is_default', models.BooleanField(default=False)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                'permissions': [('run_recovery', 'Can run disaster-recovery plans')],
            },
        ),
        migrations.CreateModel(
            name='RecoveryRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('backup_id', models.CharField(max_length=64)),
                ('pre_restore_backup_id', models.CharField(blank=True, max_length=64)),
                ('options', models.JSONField(blank=True, default=dict)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('completed', 'Completed'), ('failed', 'Failed'), ('rolled_back', 'Rolled back')], db_index=True, default='queued', max_length=12)),
                ('steps', models.JSONField(blank=True, default=list)),
                ('log', models.TextField(blank=True)),
                ('error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('plan', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='runs', to='recovery.recoveryplan')),
                ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('applied_at', models.DateTimeField(blank=True, null=True)),
                ('heartbeat_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('worker', models.CharField(blank=True, editable=False, max_length=200)),
            ],
            options={
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='MaintenanceRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('dry_run', models.BooleanField(default=False)),
                ('status', models.CharField(choices=[('running', 'Running'), ('completed', 'Completed'), ('failed', 'Failed')], default='running', max_length=10)),
                ('steps', models.JSONField(blank=True, default=dict)),
                ('actor_label', models.CharField(blank=True, max_length=150)),
                ('started_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['-started_at'],
            },
        ),
        migrations.CreateModel(
            name='HealthSnapshot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('check_id', models.UUIDField(db_index=True)),
                ('component', models.CharField(max_length=40)),
                ('status', models.CharField(choices=[('healthy', 'Healthy'), ('degraded', 'Degraded'), ('unhealthy', 'Unhealthy')], max_length=10)),
                ('value', models.FloatField(blank=True, null=True)),
                ('threshold', models.CharField(blank=True, max_length=100)),
                ('detail', models.TextField(blank=True)),
                ('recommendation', models.TextField(blank=True)),
                ('seconds', models.FloatField(default=0)),
                ('alert', models.CharField(blank=True, choices=[('', 'None'), ('problem', 'Problem'), ('recovery', 'Recovery')], default='', max_length=8)),
                ('checked_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
            ],
            options={
                'ordering': ['-checked_at', 'component'],
                'indexes': [models.Index(fields=['component', 'checked_at'], name='recovery_he_compone_638eac_idx')],
            },
        ),
        migrations.CreateModel(
            name='RestoreDrill',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('backup_id', models.CharField(blank=True, max_length=64)),
                ('chain', models.JSONField(blank=True, default=list)),
                ('engine', models.CharField(max_length=16)),
                ('status', models.CharField(choices=[('running', 'Running'), ('passed', 'Passed'), ('failed', 'Failed')], db_index=True, default='running', max_length=8)),
                ('rto_seconds', models.FloatField(blank=True, null=True)),
                ('verify_seconds', models.FloatField(blank=True, null=True)),
                ('load_seconds', models.FloatField(blank=True, null=True)),
                ('tables', models.JSONField(blank=True, default=dict)),
                ('error', models.TextField(blank=True)),
                ('started_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-started_at'],
            },
        ),
        migrations.CreateModel(
            name='SidecarCheck',
            fields=[
                ('backup', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='backups.backup')),
                ('fingerprint', models.CharField(max_length=300)),
                ('key_ids', models.CharField(max_length=200)),
                ('checked_at', models.DateTimeField(db_index=True)),
            ],
        ),
        migrations.RunPython(create_default_plan, remove_default_plan),
    ]
