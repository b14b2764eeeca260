from django.contrib import admin

from backend.auth import COORDINATOR, has_role
from backend.models import AuditEvent, FeedEntry


def is_coordinator(request) -> bool:
    """Coordinators work in the admin by their role, without per-model Django permissions."""
    user = request.user
    return user.is_active and (user.is_superuser or has_role(user, COORDINATOR))


class ReadOnlyAdminMixin:
    """Records nobody edits in the admin: coordinators (and staff with the view permission)
    only look at them — the audit log, the feed, the scans at the door."""

    def has_module_permission(self, request):
        return is_coordinator(request) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_coordinator(request) or super().has_view_permission(request, obj)

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
