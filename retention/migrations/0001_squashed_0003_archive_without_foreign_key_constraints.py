"""The retention tables as 0001 to 0003 leave them, for a new database.

Django applies this migration instead of the three it replaces when none of
them is applied, and the originals where they are, so existing databases
migrate on as before. The archive tables' references carry no database
constraint and index only ``batch`` (0003).

It depends on messaging's squashed migration, not on messaging 0003 as 0002
does: ``migrate messaging 0002_tombstone_triggers`` on a database built by
the squashed migrations reads the graph without replacements, where a
dependency on 0003 would make this migration one to roll back as well as
the originals it replaces. Where messaging's originals are in use, Django
points the dependency at the last of them.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    replaces = [('retention', '0001_initial'), ('retention', '0002_conversation_policies_bounds_holds_archive'), ('retention', '0003_archive_without_foreign_key_constraints')]

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('messaging', '0001_squashed_0004_account_changes_and_database_stamps'),
    ]

    operations = [
        migrations.CreateModel(
            name='LegalHold',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('reason', models.CharField(max_length=300)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='since')),
                ('released_at', models.DateTimeField(blank=True, null=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='legal_holds', to=settings.AUTH_USER_MODEL)),
                ('conversation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='legal_holds', to='messaging.conversation')),
                ('until', models.DateTimeField(blank=True, help_text='Empty: until released.', null=True)),
            ],
            options={
                'permissions': [('manage_legal_hold', 'Can place and release legal holds')],
                'constraints': [models.CheckConstraint(condition=models.Q(models.Q(('conversation__isnull', True), ('user__isnull', False)), models.Q(('conversation__isnull', False), ('user__isnull', True)), _connector='OR'), name='legal_hold_on_user_or_conversation')],
            },
        ),
        migrations.CreateModel(
            name='RetentionPolicy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('entity_type', models.CharField(choices=[('system', 'System'), ('user', 'User'), ('conversation', 'Conversation')], max_length=12)),
                ('retention_periods', models.JSONField(default=dict)),
                ('auto_cleanup', models.BooleanField(default=True)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('user', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='retention_policy', to=settings.AUTH_USER_MODEL)),
                ('conversation', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='retention_policy', to='messaging.conversation')),
            ],
            options={
                'verbose_name_plural': 'retention policies',
                'constraints': [models.UniqueConstraint(condition=models.Q(('entity_type', 'system')), fields=('entity_type',), name='retention_policy_one_system'), models.CheckConstraint(condition=models.Q(models.Q(('conversation__isnull', True), ('entity_type', 'system'), ('user__isnull', True)), models.Q(('conversation__isnull', True), ('entity_type', 'user'), ('user__isnull', False)), models.Q(('conversation__isnull', False), ('entity_type', 'conversation'), ('user__isnull', True)), _connector='OR'), name='retention_policy_entity_matches_target')],
            },
        ),
        migrations.CreateModel(
            name='ArchiveBatch',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('reason', models.CharField(choices=[('cleanup', 'Retention cleanup'), ('erasure', 'Erasure request'), ('restore', 'Retention after a restore')], max_length=10)),
                ('counts', models.JSONField(blank=True, default=dict)),
                ('purge_after', models.DateTimeField()),
                ('purged_at', models.DateTimeField(blank=True, null=True)),
                ('restored_at', models.DateTimeField(blank=True, null=True)),
                ('note', models.CharField(blank=True, max_length=200)),
            ],
            options={
                'verbose_name_plural': 'archive batches',
                'ordering': ['-id'],
                'permissions': [('restore_archivebatch', 'Can restore an archive batch')],
            },
        ),
        migrations.CreateModel(
            name='ArchivedCallRecord',
            fields=[
                ('id', models.BigIntegerField(primary_key=True, serialize=False)),
                ('media', models.CharField(max_length=10)),
                ('status', models.CharField(max_length=10)),
                ('started_at', models.DateTimeField()),
                ('duration_seconds', models.PositiveIntegerField(default=0)),
                ('created_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField()),
                ('batch', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='retention.archivebatch')),
                ('callee', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('caller', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('conversation', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='messaging.conversation')),
            ],
        ),
        migrations.CreateModel(
            name='ArchivedMediaFile',
            fields=[
                ('id', models.BigIntegerField(primary_key=True, serialize=False)),
                ('message_id', models.BigIntegerField(null=True)),
                ('name', models.CharField(max_length=255)),
                ('content_type', models.CharField(max_length=100)),
                ('size', models.PositiveBigIntegerField()),
                ('sha256', models.CharField(max_length=64)),
                ('file', models.CharField(db_index=True, max_length=200)),
                ('created_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField()),
                ('batch', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='retention.archivebatch')),
                ('owner', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.CreateModel(
            name='ArchivedMediaLink',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('media_id', models.BigIntegerField()),
                ('message_id', models.BigIntegerField()),
                ('batch', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='retention.archivebatch')),
            ],
        ),
        migrations.CreateModel(
            name='ArchivedMessage',
            fields=[
                ('id', models.BigIntegerField(primary_key=True, serialize=False)),
                ('kind', models.CharField(max_length=10)),
                ('body', models.TextField(blank=True)),
                ('metadata', models.JSONField(blank=True, default=dict)),
                ('is_edited', models.BooleanField(default=False)),
                ('is_deleted', models.BooleanField(default=False)),
                ('created_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField()),
                ('batch', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='retention.archivebatch')),
                ('conversation', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='messaging.conversation')),
                ('sender', models.ForeignKey(db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.CreateModel(
            name='CleanupRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('started_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('status', models.CharField(choices=[('running', 'Running'), ('completed', 'Completed'), ('failed', 'Failed')], default='running', max_length=10)),
                ('dry_run', models.BooleanField(default=False)),
                ('trigger', models.CharField(default='command', max_length=20)),
                ('actor_label', models.CharField(blank=True, max_length=150)),
                ('counts', models.JSONField(blank=True, default=dict)),
                ('seconds', models.FloatField(default=0)),
                ('error', models.TextField(blank=True)),
            ],
            options={
                'ordering': ['-id'],
            },
        ),
        migrations.AddField(
            model_name='archivebatch',
            name='run',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='batches', to='retention.cleanuprun'),
        ),
        migrations.CreateModel(
            name='LegalBound',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('retention_type', models.CharField(choices=[('regular_messages', 'Direct messages'), ('group_messages', 'Group messages'), ('anonymous_messages', 'Anonymous messages'), ('system_messages', 'System messages'), ('voice_messages', 'Voice messages'), ('call_history', 'Call history'), ('missed_calls', 'Missed calls'), ('media_files', 'Media files')], max_length=24, unique=True)),
                ('min_days', models.PositiveIntegerField(blank=True, null=True)),
                ('max_days', models.PositiveIntegerField(blank=True, null=True)),
                ('reason', models.CharField(blank=True, max_length=300)),
                ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['retention_type'],
            },
        ),
    ]
