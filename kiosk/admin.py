"""Admin for coordinators: pairing codes from the stand list, devices with revoke.

The stand admin belongs to events (which must not import kiosk), so this module adds the
"create pairing code" action and a read-only devices inline to the StandAdmin that
events.admin registered (apps load events before kiosk).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backend.errors import AppError
from events.admin import CoordinatorAdmin, is_coordinator
from events.models import Stand
from kiosk import services
from kiosk.models import Device, PairingCode


@admin.action(description=gettext_lazy("Koppelcode maken voor een tablet"))
def create_pairing_codes(modeladmin, request, queryset):
    if not is_coordinator(request):
        messages.error(request, _("Alleen een coördinator mag koppelcodes maken."))
        return None
    codes, errors = [], []
    for stand in queryset.select_related("organisation", "market"):
        try:
            code, row = services.pairing_code_create(stand=stand, created_by=request.user)
        except AppError as error:
            errors.append(f"{stand}: {error.message}")
            continue
        codes.append({"stand": stand, "code": code, "expires_at": row.expires_at})
    for error in errors:
        messages.error(request, error)
    if not codes:
        return None
    context = {**modeladmin.admin_site.each_context(request), "title": _("Koppelcodes"), "codes": codes,
               "opts": modeladmin.model._meta}
    return TemplateResponse(request, "kiosk/admin/pairing_codes.html", context)


class DeviceInline(admin.TabularInline):
    model = Device
    extra = 0
    can_delete = False
    fields = ("label", "created_at", "last_seen_at", "revoked_at")
    readonly_fields = fields
    verbose_name = gettext_lazy("gekoppelde tablet")
    verbose_name_plural = gettext_lazy("gekoppelde tablets (intrekken: zie Tablets)")

    def has_add_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return is_coordinator(request) or super().has_view_permission(request, obj)


def _attach_to_stand_admin() -> None:
    stand_admin = admin.site._registry.get(Stand)
    if stand_admin is None:  # events.admin not loaded (it always is in this project)
        return
    actions = list(stand_admin.actions or [])
    if create_pairing_codes not in actions:
        stand_admin.actions = [*actions, create_pairing_codes]
    inlines = list(stand_admin.inlines or [])
    if DeviceInline not in inlines:
        stand_admin.inlines = [*inlines, DeviceInline]


_attach_to_stand_admin()


class RevokedFilter(admin.SimpleListFilter):
    title = gettext_lazy("ingetrokken")
    parameter_name = "revoked"

    def lookups(self, request, model_admin):
        return [("no", _("actief")), ("yes", _("ingetrokken"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(revoked_at__isnull=True)
        return queryset


@admin.action(description=gettext_lazy("Geselecteerde tablets intrekken"))
def revoke_devices(modeladmin, request, queryset):
    if not is_coordinator(request):
        messages.error(request, _("Alleen een coördinator mag tablets intrekken."))
        return
    count = 0
    for device in queryset.filter(revoked_at__isnull=True):
        services.device_revoke(device=device, revoked_by=request.user)
        count += 1
    messages.success(request, _("%(n)s tablet(s) ingetrokken. Ze werken meteen niet meer.") % {"n": count})


@admin.register(Device)
class DeviceAdmin(CoordinatorAdmin):
    """Paired tablets. Made only by pairing (a code from the stand list); revoked here."""

    list_display = ("__str__", "organisation", "market", "created_at", "last_seen_at", "revoked_at")
    list_select_related = ("stand__organisation", "stand__market")
    list_filter = (RevokedFilter, "stand__market")
    search_fields = ("label", "stand__organisation__name")
    actions = [revoke_devices]
    fields = ("label", "stand", "created_at", "last_seen_at", "revoked_at", "revoked_by")
    readonly_fields = ("stand", "created_at", "last_seen_at", "revoked_at", "revoked_by")
    coordinator_may_delete = False

    @admin.display(description=gettext_lazy("organisatie"), ordering="stand__organisation__name")
    def organisation(self, obj):
        return obj.stand.organisation

    @admin.display(description=gettext_lazy("markt"), ordering="stand__market__starts_at")
    def market(self, obj):
        return obj.stand.market

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(PairingCode)
class PairingCodeAdmin(CoordinatorAdmin):
    """Issued pairing codes (only their hash is stored, so the code itself is not shown)."""

    list_display = ("stand", "created_at", "expires_at", "used_at", "created_by")
    list_select_related = ("stand__organisation", "stand__market", "created_by")
    list_filter = ("stand__market",)
    fields = ("stand", "created_at", "expires_at", "used_at", "device", "created_by")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

