"""Django's ``ModelBackend``, reading the user and their permissions in plain SQL.

Every page loads the session's user, and every admin page the staff
member's permissions. ``ModelBackend`` builds ORM queries for both (two for
the permissions: the user's own, then their groups'), and building them
cost several times what the database took to answer. This backend reads
the same rows, fresh on every request, with statements written once per
process; everything else (logging in, inactive users, superusers) is
``ModelBackend``'s.
"""

from __future__ import annotations

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db import connections, router


class RoleModelBackend(ModelBackend):
    """``ModelBackend`` with the user in a raw query, the permissions in one."""

    def get_user(self, user_id):
        user_model = get_user_model()
        alias = router.db_for_read(user_model)
        # raw() converts each column as the ORM would, without building a query.
        users = user_model._default_manager.raw(
            _user_statement(alias), [user_id], using=alias
        )
        user = next(iter(users), None)
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if (
            not user_obj.is_active
            or user_obj.is_anonymous
            or obj is not None
            or user_obj.is_superuser  # every permission there is
        ):
            return super().get_all_permissions(user_obj, obj)
        # Cached on the user object, which lives as long as its request.
        if not hasattr(user_obj, "_perm_cache"):
            user_obj._perm_cache = _permissions_of(user_obj)
        return user_obj._perm_cache


def _permissions_of(user) -> set[str]:
    """Return ``{"app_label.codename", ...}`` from the user's own and groups'."""
    alias = router.db_for_read(Permission)
    with connections[alias].cursor() as cursor:
        cursor.execute(_permissions_statement(alias), [user.pk, user.pk])
        return {f"{app_label}.{codename}" for app_label, codename in cursor}


@cache
def _user_statement(alias: str) -> str:
    q = connections[alias].ops.quote_name
    opts = get_user_model()._meta
    columns = ", ".join(q(field.column) for field in opts.concrete_fields)
    return f"SELECT {columns} FROM {q(opts.db_table)} WHERE {q(opts.pk.column)} = %s"


@cache
def _permissions_statement(alias: str) -> str:
    """The query of ``_permissions_of``, with the tables' and columns' names."""
    q = connections[alias].ops.quote_name
    user_model = get_user_model()
    own = user_model._meta.get_field("user_permissions")  # user -> permission
    member = user_model._meta.get_field("groups")  # user -> group
    granted = Group._meta.get_field("permissions")  # group -> permission
    content_type = Permission._meta.get_field("content_type").related_model

    def table(model) -> str:
        return q(model._meta.db_table)

    def column(model, name: str) -> str:
        return f"{table(model)}.{q(model._meta.get_field(name).column)}"

    def ends(m2m) -> tuple[str, str]:
        """The through table's columns naming the field's model and its target."""
        through = m2m.remote_field.through
        return (
            column(through, m2m.m2m_field_name()),
            column(through, m2m.m2m_reverse_field_name()),
        )

    own_user, own_permission = ends(own)
    member_user, member_group = ends(member)
    granted_group, granted_permission = ends(granted)
    return (
        f"SELECT {column(content_type, 'app_label')}, "
        f"{column(Permission, 'codename')} FROM {table(Permission)} "
        f"INNER JOIN {table(content_type)} ON {column(content_type, 'id')} = "
        f"{column(Permission, 'content_type')} "
        f"WHERE {column(Permission, 'id')} IN ("
        f"SELECT {own_permission} FROM {table(own.remote_field.through)} "
        f"WHERE {own_user} = %s "
        f"UNION SELECT {granted_permission} "
        f"FROM {table(granted.remote_field.through)} "
        f"INNER JOIN {table(member.remote_field.through)} "
        f"ON {member_group} = {granted_group} WHERE {member_user} = %s)"
    )
