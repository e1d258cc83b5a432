"""The authentication backend: ModelBackend's permissions, read in one query."""

from __future__ import annotations

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from talowa_admin.auth_backend import RoleModelBackend
from talowa_admin.roles import ROLES

pytestmark = pytest.mark.django_db


def fresh(user):
    """The user as a new request loads it: no permissions cached."""
    return type(user).objects.get(pk=user.pk)


def both(user) -> tuple[set[str], set[str]]:
    return (
        ModelBackend().get_all_permissions(fresh(user)),
        RoleModelBackend().get_all_permissions(fresh(user)),
    )


def test_the_permissions_are_model_backends_for_every_kind_of_user(
    role_user, make_user, django_user_model
):
    users = [role_user(role) for role in ROLES]
    # Two groups and permissions of its own, one of them in a group too.
    mixed = role_user(ROLES[0])
    extra = Group.objects.create(name="legal")
    extra.permissions.add(Permission.objects.get(codename="view_legalhold"))
    mixed.groups.add(extra)
    mixed.user_permissions.add(
        Permission.objects.get(codename="view_auditevent"),
        Permission.objects.get(codename="view_backup"),
    )
    inactive = role_user(ROLES[2])
    inactive.is_active = False
    inactive.save()
    superuser = django_user_model.objects.create_superuser("root", password="x")
    users += [mixed, inactive, superuser, make_user()]
    for user in users:
        expected, found = both(user)
        assert found == expected, user.username
    assert both(mixed)[1] == both(users[0])[1] | {
        "retention.view_legalhold",
        "talowa_admin.view_auditevent",
    }
    assert both(inactive)[1] == set() and both(superuser)[1]


def test_a_user_and_their_groups_permissions_take_one_query(
    role_user, django_assert_num_queries
):
    user = fresh(role_user(ROLES[1]))
    user.user_permissions.add(Permission.objects.get(codename="view_user"))
    user = fresh(user)
    with django_assert_num_queries(1):
        assert user.has_perm("backups.run_backup")  # the group's
        assert user.has_perm("auth.view_user")  # the user's own
        assert not user.has_perm("backups.restore_backup")


def test_a_changed_permission_counts_at_the_next_request(client, role_user):
    viewer = role_user(ROLES[0])
    client.force_login(viewer)
    url = reverse("admin:backups_backup_changelist")
    assert client.get(url).status_code == 200
    Group.objects.get(name=ROLES[0]).permissions.remove(
        Permission.objects.get(codename="view_backup")
    )
    assert client.get(url).status_code == 403
    viewer.user_permissions.add(Permission.objects.get(codename="view_backup"))
    assert client.get(url).status_code == 200


def test_the_sessions_user_is_the_one_model_backend_loads(make_user, django_user_model):
    user = make_user(first_name="Asha", email="asha@example.org")
    django_user_model.objects.filter(pk=user.pk).update(last_login=timezone.now())
    inactive = make_user(is_active=False)

    def fields(found):
        return {k: v for k, v in vars(found).items() if k != "_state"}

    loaded = RoleModelBackend().get_user(user.pk)
    assert fields(loaded) == fields(ModelBackend().get_user(user.pk))
    assert loaded.last_login is not None and timezone.is_aware(loaded.last_login)
    assert not loaded._state.adding and loaded._state.db == "default"
    assert RoleModelBackend().get_user(inactive.pk) is None
    assert RoleModelBackend().get_user(10**9) is None
