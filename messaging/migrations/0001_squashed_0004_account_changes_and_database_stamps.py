"""The messaging tables and their triggers as 0001 to 0004 leave them.

Django applies this migration instead of the four it replaces when none of
them is applied, and the originals where they are, so existing databases
migrate on as before. The tables are created with their final columns and
indexes, then every trigger of ``messaging.triggers`` is installed (0002's
tombstone triggers and 0004's stamp and account triggers), and every
existing account gets a stamp, as 0004 does. Django records the four
replaced migrations as applied too, which is what ``messaging.apps`` looks
for when it puts back missing triggers after ``migrate``.
"""

import django.db.models.deletion
import messaging.models
from django.conf import settings
from django.db import migrations, models


def install(apps, schema_editor):
    from messaging.triggers import install_change_triggers, install_tombstone_triggers

    install_tombstone_triggers(schema_editor)
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
    from messaging.triggers import remove_change_triggers, remove_tombstone_triggers

    remove_change_triggers(schema_editor)
    remove_tombstone_triggers(schema_editor)


class Migration(migrations.Migration):

    replaces = [('messaging', '0001_initial'), ('messaging', '0002_tombstone_triggers'), ('messaging', '0003_drop_indexes_covered_by_composite_ones'), ('messaging', '0004_account_changes_and_database_stamps')]

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Conversation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField(db_index=True)),
                ('kind', models.CharField(choices=[('direct', 'Direct'), ('group', 'Group')], max_length=10)),
                ('title', models.CharField(blank=True, max_length=200)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'constraints': [models.CheckConstraint(condition=models.Q(('kind__in', ['direct', 'group'])), name='conversation_kind_valid')],
            },
        ),
        migrations.CreateModel(
            name='CallRecord',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField(db_index=True)),
                ('media', models.CharField(choices=[('voice', 'Voice'), ('video', 'Video')], default='voice', max_length=10)),
                ('status', models.CharField(choices=[('completed', 'Completed'), ('missed', 'Missed'), ('rejected', 'Rejected')], max_length=10)),
                ('started_at', models.DateTimeField()),
                ('duration_seconds', models.PositiveIntegerField(default=0)),
                ('callee', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('caller', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('conversation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='calls', to='messaging.conversation')),
            ],
            options={
                'indexes': [models.Index(fields=['caller', 'started_at'], name='messaging_c_caller__072efd_idx'), models.Index(fields=['callee', 'started_at'], name='messaging_c_callee__9eb621_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('status__in', ['completed', 'missed', 'rejected'])), name='call_status_valid'), models.CheckConstraint(condition=models.Q(('status', 'completed'), ('duration_seconds', 0), _connector='OR'), name='call_duration_only_when_completed'), models.CheckConstraint(condition=models.Q(('caller', models.F('callee')), _negated=True), name='call_not_to_self')],
            },
        ),
        migrations.CreateModel(
            name='Message',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField(db_index=True)),
                ('kind', models.CharField(choices=[('regular', 'Regular'), ('group', 'Group'), ('anonymous', 'Anonymous'), ('system', 'System'), ('voice', 'Voice')], max_length=10)),
                ('body', models.TextField(blank=True)),
                ('metadata', models.JSONField(blank=True, default=dict)),
                ('is_edited', models.BooleanField(default=False)),
                ('is_deleted', models.BooleanField(default=False)),
                ('conversation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='messages', to='messaging.conversation')),
                ('sender', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(fields=['conversation', 'created_at'], name='messaging_m_convers_7bc91b_idx'), models.Index(fields=['sender', 'created_at'], name='messaging_m_sender__277197_idx'), models.Index(fields=['kind', 'created_at'], name='messaging_m_kind_255079_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('kind__in', ['regular', 'group', 'anonymous', 'system', 'voice'])), name='message_kind_valid'), models.CheckConstraint(condition=models.Q(('kind', 'system'), ('sender__isnull', False), _connector='OR'), name='message_sender_unless_system')],
            },
        ),
        migrations.CreateModel(
            name='MediaFile',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField(db_index=True)),
                ('name', models.CharField(max_length=255)),
                ('content_type', models.CharField(max_length=100)),
                ('size', models.PositiveBigIntegerField()),
                ('sha256', models.CharField(db_index=True, max_length=64)),
                ('file', models.FileField(max_length=200, storage=messaging.models.media_storage, upload_to='')),
                ('owner', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('message', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='media_files', to='messaging.message')),
            ],
            options={
                'indexes': [models.Index(fields=['owner', 'created_at'], name='messaging_m_owner_i_144d2c_idx')],
                'constraints': [models.CheckConstraint(condition=models.Q(('sha256__regex', '^[0-9a-f]{64}$')), name='media_sha256_hex')],
            },
        ),
        migrations.CreateModel(
            name='Participant',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField(db_index=True)),
                ('role', models.CharField(choices=[('member', 'Member'), ('admin', 'Admin')], default='member', max_length=10)),
                ('joined_at', models.DateTimeField()),
                ('conversation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='participants', to='messaging.conversation')),
                ('user', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(fields=['user', 'conversation'], name='messaging_p_user_id_09ef83_idx')],
                'constraints': [models.UniqueConstraint(fields=('conversation', 'user'), name='participant_unique')],
            },
        ),
        migrations.CreateModel(
            name='Tombstone',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('model', models.CharField(max_length=64)),
                ('object_id', models.BigIntegerField()),
                ('owner_id', models.BigIntegerField(blank=True, null=True)),
                ('deleted_at', models.DateTimeField(db_index=True)),
            ],
            options={
                'indexes': [models.Index(fields=['model', 'object_id'], name='messaging_t_model_f1a5ad_idx')],
            },
        ),
        migrations.CreateModel(
            name='AccountChange',
            fields=[
                ('user_id', models.BigIntegerField(primary_key=True, serialize=False)),
                ('updated_at', models.DateTimeField(db_index=True)),
            ],
        ),
        migrations.RunPython(install, remove),
    ]
