"""The scans at the door in the admin: the check-ins' own audit record (docs/security-operations.md)."""

from django.contrib import admin

from backend.admin import ReadOnlyAdminMixin
from checkin.models import Scan


@admin.register(Scan)
class ScanAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("received_at", "market", "user", "device", "method", "status", "reason", "invitation")
    list_filter = ("status", "reason", "method")
    list_select_related = ("market", "user", "invitation")
    search_fields = ("nonce", "device", "user__username")
    date_hierarchy = "received_at"
    readonly_fields = ("market", "invitation", "user", "device", "nonce", "fingerprint", "method", "scanned_at",
                       "received_at", "status", "reason", "response")
