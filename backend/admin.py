from django.contrib import admin

from backend.models import AuditEvent, FeedEntry


class ReadOnlyAdminMixin:
    """Records nobody edits in the admin: they are only looked at."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(FeedEntry)
class FeedEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("market_id", "seq", "kind", "at")
    list_filter = ("kind",)
    readonly_fields = ("market_id", "seq", "kind", "data", "at")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("at", "actor", "action", "object_type", "object_id", "ip")
    list_filter = ("action", "object_type")
    search_fields = ("actor", "object_id")
    readonly_fields = ("at", "actor", "action", "object_type", "object_id", "ip", "detail")
