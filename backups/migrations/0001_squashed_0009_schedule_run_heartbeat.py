"""The backups tables as 0001 to 0009 leave them, for a new database.

Django applies this migration instead of the nine it replaces when none of
them is applied, and the originals where they are, so existing databases
migrate on as before. Their two data migrations are left out: they rewrite
existing rows (0006 schedule intervals, 0008 storage aliases), and a table
this migration creates holds none.
"""

import backups.models
import backups.storage
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    replaces = [('backups', '0001_initial'), ('backups', '0002_backup_scope_lock'), ('backups', '0003_backup_audit_head'), ('backups', '0004_export_job_worker'), ('backups', '0005_exportjob_scope'), ('backups', '0006_backup_schedule_timing_and_runs'), ('backups', '0007_storage_migration'), ('backups', '0008_backup_storage_names_its_place'), ('backups', '0009_schedule_run_heartbeat')]

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Backup',
            fields=[
                ('id', models.CharField(default=backups.models.new_backup_id, max_length=64, primary_key=True, serialize=False)),
                ('kind', models.CharField(choices=[('full', 'Full'), ('incremental', 'Incremental')], max_length=12)),
                ('scope', models.CharField(choices=[('system', 'System'), ('user', 'User')], max_length=8)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('running', 'Running'), ('completed', 'Completed'), ('failed', 'Failed'), ('expired', 'Expired')], db_index=True, default='pending', max_length=10)),
                ('data_types', models.JSONField(default=backups.models.all_backup_data_types)),
                ('watermark', models.DateTimeField(blank=True, null=True)),
                ('counts', models.JSONField(blank=True, default=dict)),
                ('raw_bytes', models.PositiveBigIntegerField(default=0)),
                ('compressed_bytes', models.PositiveBigIntegerField(default=0)),
                ('stored_bytes', models.PositiveBigIntegerField(default=0)),
                ('sha256', models.CharField(blank=True, max_length=64)),
                ('storage', models.CharField(default=backups.storage.configured_alias, help_text='Alias of settings.STORAGES: where the archive and sidecars are.', max_length=32)),
                ('object_key', models.CharField(blank=True, max_length=255)),
                ('key_id', models.CharField(blank=True, max_length=64)),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('error', models.TextField(blank=True)),
                ('metadata', models.JSONField(blank=True, default=dict)),
                ('note', models.CharField(blank=True, max_length=200)),
                ('verified_at', models.DateTimeField(blank=True, null=True)),
                ('verify_ok', models.BooleanField(blank=True, null=True)),
                ('verify_error', models.TextField(blank=True)),
                ('owner', models.ForeignKey(blank=True, help_text='The user whose data a user-scope backup holds.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='backups', to=settings.AUTH_USER_MODEL)),
                ('parent', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='children', to='backups.backup')),
                ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('heartbeat_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('lock_key', models.CharField(blank=True, editable=False, max_length=32, null=True)),
                ('worker', models.CharField(blank=True, editable=False, max_length=200)),
                ('audit_head_event_id', models.PositiveBigIntegerField(blank=True, editable=False, null=True)),
                ('audit_head_hash', models.CharField(blank=True, editable=False, max_length=64)),
            ],
            options={
                'ordering': ['-created_at'],
                'permissions': [('run_backup', 'Can create backups'), ('verify_backup', 'Can verify backups'), ('restore_backup', 'Can restore backups'), ('expire_backup', 'Can expire backups'), ('rotate_keys', 'Can rotate backup keys'), ('export_data', "Can export users' data")],
                'indexes': [models.Index(fields=['scope', 'owner', 'status', 'created_at'], name='backups_bac_scope_ea1521_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('owner__isnull', True), ('scope', 'system')), ('scope', 'user'), _connector='OR'), name='backup_system_scope_has_no_owner'), models.CheckConstraint(condition=models.Q(models.Q(('kind', 'full'), ('parent__isnull', True)), models.Q(('kind', 'incremental'), ('parent__isnull', False)), _connector='OR'), name='backup_incremental_has_parent'), models.UniqueConstraint(fields=('lock_key',), name='backup_one_per_scope')],
            },
        ),
        migrations.CreateModel(
            name='BackupSchedule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, unique=True)),
                ('data_types', models.JSONField(default=backups.models.all_backup_data_types)),
                ('incremental', models.BooleanField(default=False, help_text="Back up only what changed since the scope's latest backup.")),
                ('enabled', models.BooleanField(default=True)),
                ('q_schedule_id', models.BigIntegerField(blank=True, editable=False, null=True)),
                ('last_run_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('created_by', models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('last_backup', models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='backups.backup')),
                ('at_time', models.TimeField(blank=True, help_text='Local time of day (TIME_ZONE).', null=True, verbose_name='at')),
                ('builtin', models.CharField(blank=True, editable=False, max_length=32)),
                ('day_of_month', models.PositiveSmallIntegerField(blank=True, help_text='1 to 28.', null=True, verbose_name='day of the month')),
                ('every', models.PositiveIntegerField(blank=True, help_text='N, for every N minutes or hours.', null=True)),
                ('full_every_days', models.PositiveSmallIntegerField(blank=True, help_text='For incremental schedules: take a full backup instead when the latest full one is this many days old.', null=True, verbose_name='full backup every (days)')),
                ('kind', models.CharField(choices=[('minutes', 'Every N minutes'), ('hours', 'Every N hours'), ('daily', 'Daily at a time'), ('weekly', 'Weekly on a day, at a time'), ('monthly', 'Monthly on a day, at a time')], default='daily', max_length=8, verbose_name='runs')),
                ('note', models.CharField(blank=True, max_length=200)),
                ('owner', models.ForeignKey(blank=True, help_text="Back up only this user's data; empty for the whole system.", null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='user')),
                ('weekday', models.PositiveSmallIntegerField(blank=True, choices=[(0, 'Monday'), (1, 'Tuesday'), (2, 'Wednesday'), (3, 'Thursday'), (4, 'Friday'), (5, 'Saturday'), (6, 'Sunday')], null=True, verbose_name='on')),
            ],
            options={
                'constraints': [models.UniqueConstraint(condition=models.Q(('builtin', ''), _negated=True), fields=('builtin',), name='backup_schedule_one_per_builtin')],
                'ordering': ['name'],
            },
        ),
        migrations.CreateModel(
            name='ExportJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('format', models.CharField(max_length=10)),
                ('data_types', models.JSONField(default=backups.models.all_backup_data_types)),
                ('include_metadata', models.BooleanField(default=True)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('completed', 'Completed'), ('failed', 'Failed'), ('expired', 'Expired')], db_index=True, default='queued', max_length=10)),
                ('progress', models.PositiveSmallIntegerField(default=0)),
                ('files', models.JSONField(blank=True, default=list)),
                ('size_bytes', models.PositiveBigIntegerField(default=0)),
                ('error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('expires_at', models.DateTimeField(blank=True, null=True)),
                ('backup', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='backups.backup')),
                ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='exports', to=settings.AUTH_USER_MODEL)),
                ('heartbeat_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('worker', models.CharField(blank=True, editable=False, max_length=200)),
                ('scope', models.CharField(choices=[('sent', 'Only what they sent'), ('conversations', 'Whole conversations')], default='sent', max_length=13)),
            ],
            options={
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='BackupScheduleRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('slot', models.DateTimeField(blank=True, null=True)),
                ('trigger', models.CharField(choices=[('scheduled', 'Scheduled'), ('catch_up', 'Catch-up after downtime'), ('manual', 'Run now')], max_length=10)),
                ('result', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('skipped', 'Skipped'), ('failed', 'Failed')], default='queued', max_length=10)),
                ('message', models.TextField(blank=True)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('queued_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('worker', models.CharField(blank=True, max_length=200)),
                ('backup', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='backups.backup')),
                ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('schedule', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='runs', to='backups.backupschedule')),
                ('heartbeat_at', models.DateTimeField(blank=True, editable=False, null=True)),
            ],
            options={
                'ordering': ['-queued_at', '-id'],
                'indexes': [models.Index(fields=['schedule', 'queued_at'], name='backups_bac_schedul_5959b0_idx')],
                'constraints': [models.UniqueConstraint(fields=('schedule', 'slot'), name='backup_schedule_run_one_per_slot')],
            },
        ),
        migrations.CreateModel(
            name='StorageMigration',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('target', models.CharField(help_text='Storage alias copied to.', max_length=32)),
                ('delete_source', models.BooleanField(default=False)),
                ('status', models.CharField(choices=[('running', 'Running'), ('completed', 'Completed'), ('completed_with_errors', 'Completed with errors'), ('failed', 'Failed')], db_index=True, default='running', max_length=24)),
                ('backups_total', models.PositiveIntegerField(default=0)),
                ('backups_done', models.PositiveIntegerField(default=0)),
                ('objects_copied', models.PositiveIntegerField(default=0)),
                ('objects_skipped', models.PositiveIntegerField(default=0, help_text='Already at the target and verified: not copied again.')),
                ('bytes_total', models.PositiveBigIntegerField(default=0)),
                ('bytes_copied', models.PositiveBigIntegerField(default=0)),
                ('seconds', models.FloatField(default=0, help_text='Time spent copying, all tries.')),
                ('errors', models.JSONField(blank=True, default=list)),
                ('resumed', models.PositiveIntegerField(default=0)),
                ('requested_by', models.CharField(blank=True, max_length=150)),
                ('started_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('worker', models.CharField(blank=True, editable=False, max_length=200)),
                ('heartbeat_at', models.DateTimeField(blank=True, editable=False, null=True)),
            ],
            options={
                'ordering': ['-started_at'],
            },
        ),
        migrations.CreateModel(
            name='StorageMigrationItem',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('backup_id', models.CharField(max_length=64)),
                ('source', models.CharField(help_text='Storage alias copied from.', max_length=32)),
                ('object_key', models.CharField(max_length=255)),
                ('state', models.CharField(choices=[('pending', 'Pending'), ('switched', 'Copied, verified, catalog switched'), ('done', 'Done'), ('failed', 'Failed')], default='pending', max_length=10)),
                ('bytes', models.PositiveBigIntegerField(default=0)),
                ('error', models.TextField(blank=True)),
                ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='items', to='backups.storagemigration')),
            ],
            options={
                'ordering': ['pk'],
                'constraints': [models.UniqueConstraint(fields=('run', 'backup_id'), name='migration_item_once_per_run')],
            },
        ),
    ]
