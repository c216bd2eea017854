from django.contrib import admin

from .models import AuditEntry, ClipReport, Vote, Voter


@admin.register(Voter)
class VoterAdmin(admin.ModelAdmin):
    list_display = ["uid", "status", "created_at", "last_seen"]
    list_filter = ["status"]
    search_fields = ["uid"]
    readonly_fields = ["uid", "ip_hash", "net_hash", "ua_hash", "created_at", "last_seen"]


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    """Read-only: votes change only through moderation, never by editing."""

    list_display = [
        "uid",
        "arena",
        "mode",
        "model_a",
        "model_b",
        "winner",
        "source",
        "quarantined",
        "invalidated",
        "attention_check",
        "created_at",
    ]
    list_filter = ["arena", "mode", "winner", "source", "quarantined", "invalidated"]
    search_fields = ["uid", "battle_uid"]

    def has_add_permission(self, request):  # noqa: ANN001, ANN201
        return False

    def has_change_permission(self, request, obj=None):  # noqa: ANN001, ANN201
        return False

    def has_delete_permission(self, request, obj=None):  # noqa: ANN001, ANN201
        return False


@admin.register(ClipReport)
class ClipReportAdmin(admin.ModelAdmin):
    list_display = ["clip", "reason", "note", "resolved", "created_at"]
    list_filter = ["reason", "resolved"]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only, like the table itself (database triggers refuse changes)."""

    list_display = ["id", "created_at", "actor", "action", "target_type", "target", "reason"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor", "target", "reason"]

    def has_add_permission(self, request):  # noqa: ANN001, ANN201
        return False

    def has_change_permission(self, request, obj=None):  # noqa: ANN001, ANN201
        return False

    def has_delete_permission(self, request, obj=None):  # noqa: ANN001, ANN201
        return False
