"""Read-mostly admin pages over the messaging data.

Message bodies are people's private words: only roles with the matching view
permission (Recovery admin) see them, and nobody edits them here.
"""

from __future__ import annotations

from django.contrib import admin

from messaging.models import (
    CallRecord,
    Conversation,
    MediaFile,
    Message,
    Participant,
    Tombstone,
)
from talowa_admin.admin_base import ReadOnlyAdmin


class ParticipantInline(admin.TabularInline):
    model = Participant
    fields = ("user", "role", "joined_at")
    readonly_fields = fields
    raw_id_fields = ("user",)
    extra = 0
    can_delete = False
    max_num = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "title", "created_by", "created_at", "updated_at")
    list_filter = ("kind", "created_at")
    search_fields = ("title", "=id")
    list_select_related = ("created_by",)
    inlines = [ParticipantInline]
    show_full_result_count = False


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyAdmin):
    list_display = ("id", "conversation", "user", "role", "joined_at")
    list_filter = ("role",)
    search_fields = ("user__username", "=conversation__id")
    list_select_related = ("conversation", "user")
    raw_id_fields = ("conversation", "user")
    show_full_result_count = False


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "sender",
        "conversation",
        "short_body",
        "created_at",
        "is_edited",
        "is_deleted",
    )
    list_filter = ("kind", "is_edited", "is_deleted", "created_at")
    search_fields = ("body", "sender__username", "=conversation__id")
    list_select_related = ("sender", "conversation")
    raw_id_fields = ("sender", "conversation")
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="Body")
    def short_body(self, obj: Message) -> str:
        return obj.body if len(obj.body) <= 80 else obj.body[:79] + "…"


@admin.register(CallRecord)
class CallRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "caller",
        "callee",
        "media",
        "status",
        "started_at",
        "duration_seconds",
    )
    list_filter = ("status", "media", "started_at")
    search_fields = ("caller__username", "callee__username")
    list_select_related = ("caller", "callee")
    raw_id_fields = ("caller", "callee", "conversation")
    date_hierarchy = "started_at"
    show_full_result_count = False


@admin.register(MediaFile)
class MediaFileAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "content_type", "size", "owner", "created_at")
    list_filter = ("content_type", "created_at")
    search_fields = ("name", "sha256", "owner__username")
    list_select_related = ("owner",)
    raw_id_fields = ("owner", "message")
    show_full_result_count = False


@admin.register(Tombstone)
class TombstoneAdmin(ReadOnlyAdmin):
    list_display = ("id", "model", "object_id", "owner_id", "deleted_at")
    list_filter = ("model", "deleted_at")
    search_fields = ("=object_id", "=owner_id")
    show_full_result_count = False
