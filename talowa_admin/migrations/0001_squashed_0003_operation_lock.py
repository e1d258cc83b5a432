"""The talowa_admin tables, singletons and roles as 0001 to 0003 leave them.

Django applies this migration instead of the three it replaces when none of
them is applied, and the originals where they are, so existing databases
migrate on as before. The role groups get the permissions that exist now;
``talowa_admin.roles.sync_roles_after_migrate`` completes them once
``migrate`` has created every permission, as after 0002.
"""

import datetime
import django.core.validators
import django.db.models.deletion
import talowa_admin.models
from django.conf import settings
from django.db import migrations, models


GENESIS_HASH = "0" * 64


def create_singletons_and_roles(apps, schema_editor):
    from talowa_admin.roles import sync_roles

    apps.get_model("talowa_admin", "AuditChainHead").objects.get_or_create(
        id=1, defaults={"last_event_id": 0, "last_hash": GENESIS_HASH}
    )
    apps.get_model("talowa_admin", "SystemSettings").objects.get_or_create(id=1)
    sync_roles(apps)


def remove_roles(apps, schema_editor):
    from talowa_admin.roles import ROLES

    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):

    replaces = [('talowa_admin', '0001_initial'), ('talowa_admin', '0002_roles_and_singletons'), ('talowa_admin', '0003_operation_lock')]

    initial = True

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditChainHead',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ('last_event_id', models.BigIntegerField(default=0)),
                ('last_hash', models.CharField(max_length=64)),
            ],
        ),
        migrations.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(db_index=True)),
                ('actor_label', models.CharField(max_length=150)),
                ('action', models.CharField(db_index=True, max_length=64)),
                ('target_type', models.CharField(blank=True, max_length=64)),
                ('target_id', models.CharField(blank=True, max_length=128)),
                ('source_address', models.GenericIPAddressField(blank=True, null=True)),
                ('details', models.JSONField(blank=True, default=dict)),
                ('previous_hash', models.CharField(max_length=64)),
                ('entry_hash', models.CharField(max_length=64, unique=True)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-id'],
                'indexes': [models.Index(fields=['target_type', 'target_id'], name='talowa_admi_target__7ef764_idx')],
            },
        ),
        migrations.CreateModel(
            name='SystemSettings',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True, serialize=False)),
                ('default_backup_interval', models.DurationField(default=datetime.timedelta(days=1), help_text='How often scheduled backups run (for example 1 day, or 6:00:00).', validators=[talowa_admin.models.validate_backup_interval])),
                ('default_retention_periods', models.JSONField(default=talowa_admin.models.default_retention_periods, help_text='Days to keep each data type, for users without a policy.', validators=[talowa_admin.models.validate_retention_periods])),
                ('enable_automatic_cleanup', models.BooleanField(default=True, help_text='Delete expired data on schedule.')),
                ('max_backups_per_user', models.PositiveIntegerField(default=10, validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(1000)])),
                ('max_storage_per_user', models.PositiveBigIntegerField(default=104857600, help_text='Bytes of backups kept per user (1 MiB to 1 TiB).', validators=[django.core.validators.MinValueValidator(1048576), django.core.validators.MaxValueValidator(1099511627776)])),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('updated_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'system settings',
                'verbose_name_plural': 'system settings',
                'permissions': [('view_dashboard', 'Can view the backup dashboard')],
                'constraints': [models.CheckConstraint(condition=models.Q(('id', 1)), name='system_settings_singleton')],
            },
        ),
        migrations.CreateModel(
            name='OperationLock',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=64, unique=True)),
                ('holder', models.CharField(max_length=200)),
                ('acquired_at', models.DateTimeField()),
                ('heartbeat_at', models.DateTimeField()),
                ('purpose', models.CharField(blank=True, max_length=200)),
            ],
        ),
        migrations.RunPython(create_singletons_and_roles, remove_roles),
    ]
