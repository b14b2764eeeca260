"""Django admin for coordinators (docs/events.md "Admin").

Access: the admin needs `is_staff`; events.admin_access keeps `is_staff` in step with the
coordinator role. Inside, the ModelAdmins below grant coordinators (and superusers) what they
need by role, so no per-model Django permissions have to be handed out. Consultant-domain
records (leads, agreements, exemptions, statements) are view-only here.

Coordinator work reachable as admin actions: open/close a market, download its letters,
follow-up summons (intermediate page), invite every client of the district; import clients
from CSV (a page linked from the client list), invite selected clients to a market; download
letters or a QR code of invitations.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Exists, OuterRef
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backend.admin import ReadOnlyAdminMixin, is_coordinator
from backend.audit import audit_record
from backend.errors import AppError, Invalid
from backend.feed import feed_init
from events import letters, qr, services
from events.imports import clients_import_csv
from events.models import (
    Activity,
    Agreement,
    Client,
    ClientStatement,
    District,
    Exemption,
    Invitation,
    Lead,
    Market,
    Organisation,
    Stand,
    TimeSlot,
)


class CoordinatorAdmin(admin.ModelAdmin):
    """Coordinators may view, add and change; Django permissions still work for other staff."""

    coordinator_may_delete = True

    def has_module_permission(self, request):
        return is_coordinator(request) or super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_coordinator(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return is_coordinator(request) or super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return is_coordinator(request) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if request.user.is_superuser:
            return True
        return (self.coordinator_may_delete and is_coordinator(request)) or super().has_delete_permission(request, obj)


class ViewOnlyAdmin(ReadOnlyAdminMixin, CoordinatorAdmin):
    """Records that consultants keep (through their own pages): coordinators only look."""


class CoordinatorInline:
    """Inlines check permissions on their own: without this, a coordinator (role, no Django model
    permissions) would not see the slots and stands of a market or the activities of an
    organisation at all, and could not add them."""

    def has_view_permission(self, request, obj=None):
        return is_coordinator(request) or super().has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return is_coordinator(request) or super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return is_coordinator(request) or super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_coordinator(request) or super().has_delete_permission(request, obj)


def _report(request, exc: AppError) -> None:
    messages.error(request, f"{exc.message} ({exc.code})")


# --- districts, organisations ----------------------------------------------------------------


def _action_page(model_admin, request, template: str, *, title, action: str, selected, submit_label,
                 **context) -> TemplateResponse:
    """The page of an admin action that asks first (admin/events/_action_page.html): it posts the
    same action again for the same selection, with `apply`."""
    return TemplateResponse(request, template, {
        **model_admin.admin_site.each_context(request), "title": title, "opts": model_admin.model._meta,
        "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME, "action": action,
        "selected": [obj.pk for obj in selected], "submit_label": submit_label, **context})


@admin.register(District)
class DistrictAdmin(CoordinatorAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    filter_horizontal = ("consultants",)
    coordinator_may_delete = False


class ActivityInline(CoordinatorInline, admin.TabularInline):
    model = Activity
    extra = 0
    fields = ("title", "capacity", "guidance_capacity", "hours_min", "hours_max", "active")
    show_change_link = True


@admin.register(Organisation)
class OrganisationAdmin(CoordinatorAdmin):
    list_display = ("name", "contact_name", "contact_email")
    search_fields = ("name",)
    inlines = [ActivityInline]


@admin.register(Activity)
class ActivityAdmin(CoordinatorAdmin):
    list_display = ("title", "organisation", "capacity", "guidance_capacity", "active")
    list_filter = ("active", "organisation")
    list_select_related = ("organisation",)
    search_fields = ("title", "organisation__name")


# --- markets ---------------------------------------------------------------------------------


def _times_checked(form, check, **values) -> None:
    """Run a service's check of times on a form: its plain-Dutch message on the form (not the
    database constraint's name); an end before the start goes with the end field."""
    try:
        check(**values)
    except Invalid as exc:
        form.add_error("ends_at" if exc.code == "ends_before_start" else None, exc.message)


class MarketForm(forms.ModelForm):
    class Meta:
        model = Market
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        starts, ends = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts and ends:
            _times_checked(self, services.market_times_check, starts_at=starts, ends_at=ends)
        return cleaned


class TimeSlotForm(forms.ModelForm):
    class Meta:
        model = TimeSlot
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        market, starts, ends = cleaned.get("market"), cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts and ends and market is not None and market.starts_at and market.ends_at:
            _times_checked(self, services.timeslot_times_check, market=market, starts_at=starts, ends_at=ends)
        return cleaned


class TimeSlotInline(CoordinatorInline, admin.TabularInline):
    model = TimeSlot
    form = TimeSlotForm
    extra = 0


class StandInline(CoordinatorInline, admin.TabularInline):
    model = Stand
    extra = 0
    autocomplete_fields = ("organisation",)


class FollowUpForm(forms.Form):
    later = forms.ModelChoiceField(queryset=Market.objects.none(), label=gettext_lazy("Latere markt"))

    def __init__(self, *args, market: Market, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["later"].queryset = Market.objects.filter(
            district_id=market.district_id, starts_at__gt=market.starts_at).exclude(
            state=Market.State.CLOSED).order_by("starts_at")


@admin.register(Market)
class MarketAdmin(CoordinatorAdmin):
    form = MarketForm
    list_display = ("name", "district", "starts_at", "state", "invitation_count", "report_link")
    list_filter = ("state", "district")
    list_select_related = ("district",)
    search_fields = ("name", "venue")
    date_hierarchy = "starts_at"
    readonly_fields = ("state", "opened_at", "closed_at", "created_at")
    inlines = [TimeSlotInline, StandInline]
    actions = ["open_markets", "close_markets", "download_letters", "follow_up", "invite_district"]
    coordinator_may_delete = False

    @admin.display(description=gettext_lazy("uitnodigingen"))
    def invitation_count(self, obj):
        # A link to the market's invitations (codes, states, letters) in the invitation list.
        url = reverse("admin:events_invitation_changelist") + f"?market__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.invitations.count())

    @admin.display(description=gettext_lazy("rapport"))
    def report_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("report_market", kwargs={"market_id": obj.pk}),
                           _("Rapport"))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            feed_init(market_id=obj.pk)  # as services.market_create does

    @admin.action(description=gettext_lazy("Markt openen"))
    def open_markets(self, request, queryset):
        for market in queryset:
            try:
                services.market_open(market=market)
                messages.success(request, _("%(name)s is open.") % {"name": market.name})
            except AppError as exc:
                _report(request, exc)

    @admin.action(description=gettext_lazy("Markt sluiten (wie niet kwam: niet verschenen)"))
    def close_markets(self, request, queryset):
        for market in queryset:
            market, no_shows = services.market_close(market=market)
            messages.success(request, _("%(name)s is gesloten; %(count)s niet verschenen.")
                             % {"name": market.name, "count": no_shows})

    @admin.action(description=gettext_lazy("Brieven downloaden (PDF)"))
    def download_letters(self, request, queryset):
        if queryset.count() != 1:
            messages.error(request, _("Kies precies één markt."))
            return None
        return letters.market_letters_response(queryset.get())

    @admin.action(description=gettext_lazy("Herhaalde oproep voor wie niet kwam"))
    def follow_up(self, request, queryset):
        if queryset.count() != 1:
            messages.error(request, _("Kies precies één markt."))
            return None
        market = queryset.get()
        form = FollowUpForm(request.POST if "apply" in request.POST else None, market=market)
        if form.is_valid():
            try:
                created = services.invitation_follow_up(market=market, later=form.cleaned_data["later"])
            except AppError as exc:
                _report(request, exc)
                return None
            messages.success(request, _("%(count)s nieuwe uitnodigingen voor %(name)s.")
                             % {"count": len(created), "name": form.cleaned_data["later"].name})
            return None
        no_shows = market.invitations.filter(state=Invitation.State.NO_SHOW, follow_up__isnull=True).count()
        return _action_page(self, request, "admin/events/market/follow_up.html", title=_("Herhaalde oproep"),
                            action="follow_up", selected=[market], submit_label=_("Nieuwe uitnodigingen maken"),
                            market=market, form=form, no_shows=no_shows)

    @admin.action(description=gettext_lazy("Alle cliënten van de wijk zonder uitnodiging uitnodigen"))
    def invite_district(self, request, queryset):
        for market in queryset.select_related("district"):
            clients = Client.objects.filter(district_id=market.district_id, pseudonymised_at__isnull=True).exclude(
                Exists(Invitation.objects.filter(market=market, client=OuterRef("pk"))))
            ids = list(clients.values_list("pk", flat=True))
            count = 0
            try:
                for start in range(0, len(ids), 10_000):  # each chunk one transaction; a repeat is a no-op
                    count += len(services.invitation_issue_bulk(market=market, clients=ids[start:start + 10_000]))
            except AppError as exc:
                _report(request, exc)
            messages.success(request, _("%(count)s uitnodigingen voor %(name)s.")
                             % {"count": count, "name": market.name})


@admin.register(TimeSlot)
class TimeSlotAdmin(CoordinatorAdmin):
    form = TimeSlotForm
    list_display = ("market", "starts_at", "ends_at", "capacity")
    list_select_related = ("market",)
    list_filter = ("market",)


@admin.register(Stand)
class StandAdmin(CoordinatorAdmin):
    list_display = ("organisation", "market", "location")
    list_select_related = ("organisation", "market")
    list_filter = ("market",)
    autocomplete_fields = ("organisation", "market")


# --- clients ---------------------------------------------------------------------------------


class ClientImportForm(forms.Form):
    district = forms.ModelChoiceField(queryset=District.objects.order_by("name"), label=gettext_lazy("Wijk"))
    file = forms.FileField(label=gettext_lazy("CSV-bestand (UTF-8)"))


class _MarketChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):  # two markets may share a name: show the district and the day
        return f"{obj.name} — {obj.district.name}, {date_format(timezone.localtime(obj.starts_at), 'j F Y')}"


class _SlotChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):  # every market has its own slots: say whose
        return f"{obj.market.name}, {date_format(timezone.localtime(obj.starts_at), 'j F Y')}, {obj}"


class InviteClientsForm(forms.Form):
    market = _MarketChoiceField(queryset=Market.objects.exclude(state=Market.State.CLOSED)
                                .select_related("district").order_by("starts_at"), label=gettext_lazy("Markt"))
    slot = _SlotChoiceField(queryset=TimeSlot.objects.exclude(market__state=Market.State.CLOSED)
                            .select_related("market").order_by("starts_at"),
                            required=False, label=gettext_lazy("Tijdvak (mag leeg)"))


@admin.register(Client)
class ClientAdmin(CoordinatorAdmin):
    # Lists show what is needed to find someone; contact details only on the client's own page.
    list_display = ("client_number", "given_name", "family_name", "district", "language", "consultant")
    list_filter = ("district", "language")
    list_select_related = ("district", "consultant")
    search_fields = ("client_number", "given_name", "family_name")
    autocomplete_fields = ("district",)
    raw_id_fields = ("consultant",)
    readonly_fields = ("pseudonymised_at", "created_at", "updated_at")
    actions = ["invite_to_market"]
    change_list_template = "admin/events/client/change_list.html"
    coordinator_may_delete = False

    def get_urls(self):
        return [path("import-csv/", self.admin_site.admin_view(self.import_view), name="events_client_import"),
                *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Reading a client's full record (contact details, address) is audit-logged (DESIGN.md §10).
        if request.method == "GET":
            audit_record(action="read", object_type="client", object_id=object_id, detail={"via": "admin"})
        return super().change_view(request, object_id, form_url, extra_context)

    def import_view(self, request):
        if not self.has_add_permission(request):
            return HttpResponse(status=403)
        result = None
        form = ClientImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = clients_import_csv(district=form.cleaned_data["district"], source=form.cleaned_data["file"])
            except AppError as exc:
                _report(request, exc)
            else:
                level = messages.WARNING if result.errors else messages.SUCCESS
                messages.add_message(request, level, _(  # label style: one text fits every count
                    "Nieuw: %(created)s. Bijgewerkt: %(updated)s. Ongewijzigd: %(unchanged)s. "
                    "Regels met fouten: %(errors)s.") % {"created": result.created, "updated": result.updated,
                                                        "unchanged": result.unchanged, "errors": result.error_rows})
        return TemplateResponse(request, "admin/events/client/import.html", {
            **self.admin_site.each_context(request), "title": _("Cliënten importeren"), "form": form,
            "result": result, "opts": self.model._meta})

    @admin.action(description=gettext_lazy("Uitnodigen voor een markt"))
    def invite_to_market(self, request, queryset):
        form = InviteClientsForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            market, slot = form.cleaned_data["market"], form.cleaned_data["slot"]
            try:
                created = services.invitation_issue_bulk(market=market, clients=queryset.values_list("pk", flat=True),
                                                         slot=slot)
            except AppError as exc:
                _report(request, exc)
                return None
            messages.success(request, _("%(count)s uitnodigingen voor %(name)s (wie er al een had, is overgeslagen).")
                             % {"count": len(created), "name": market.name})
            return None
        return _action_page(self, request, "admin/events/client/invite.html", title=_("Uitnodigen voor een markt"),
                            action="invite_to_market", selected=queryset, submit_label=_("Uitnodigen"), form=form)


# --- invitations -----------------------------------------------------------------------------


@admin.register(Invitation)
class InvitationAdmin(CoordinatorAdmin):
    list_display = ("code_display", "client", "market", "slot", "state", "round", "issued_at")
    list_filter = ("state", "round", "market")
    list_select_related = ("client", "market", "slot")
    search_fields = ("code", "client__client_number", "client__family_name")
    raw_id_fields = ("client", "market", "previous", "slot")
    fields = ("client", "market", "slot", "state", "round", "previous", "code_display", "qr_preview",
              "walk_in", "issued_at", "checked_in_at", "excused_at", "excuse_category", "excuse_reason")
    readonly_fields = ("client", "market", "state", "round", "previous", "code_display", "qr_preview", "walk_in",
                       "issued_at", "checked_in_at", "excused_at", "excuse_category", "excuse_reason")
    actions = ["download_letters", "download_qr", "revoke"]
    coordinator_may_delete = False

    def has_add_permission(self, request):
        return False  # invitations are issued through the Market/Client actions or the API

    @admin.action(description=gettext_lazy("Uitnodigingen intrekken"))
    def revoke(self, request, queryset):
        if "apply" in request.POST:
            revoked, skipped = services.invitation_revoke(invitation_ids=queryset.values_list("pk", flat=True))
            messages.success(request, _("%(count)s ingetrokken; %(skipped)s niet (niet meer open).")
                             % {"count": len(revoked), "skipped": skipped})
            return None
        return _action_page(self, request, "admin/events/invitation/revoke.html", title=_("Uitnodigingen intrekken"),
                            action="revoke", selected=queryset, submit_label=_("Intrekken"),
                            invitations=queryset.select_related("client", "market"))

    @admin.display(description=gettext_lazy("code"), ordering="code")
    def code_display(self, obj):
        return obj.formatted_code

    @admin.display(description=gettext_lazy("QR-code"))
    def qr_preview(self, obj):
        if not obj.pk:
            return "-"
        return format_html('<img src="{}" width="164" height="164" alt="QR {}">',
                           reverse("api:invitation_qr_svg", kwargs={"invitation_id": obj.pk}), obj.formatted_code)

    @admin.action(description=gettext_lazy("Brieven downloaden (PDF)"))
    def download_letters(self, request, queryset):
        qs = letters.letters_select(queryset).order_by("client__family_name", "client__given_name", "pk")
        if len(first_two := list(qs[:2])) == 1:
            # One letter as the API gives it: the PDF declares the letter's own language (a screen
            # reader reads an Arabic letter in Arabic), where a batch declares Dutch.
            return letters.letter_response(first_two[0], as_attachment=True)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return letters.invitations_letters_response(qs.iterator(chunk_size=500), filename=f"brieven-{stamp}.pdf")

    @admin.action(description=gettext_lazy("QR-code downloaden (PNG, één uitnodiging)"))
    def download_qr(self, request, queryset):
        if queryset.count() != 1:
            messages.error(request, _("Kies precies één uitnodiging."))
            return None
        invitation = queryset.get()
        response = HttpResponse(qr.invitation_png(invitation.token), content_type="image/png")
        response["Content-Disposition"] = f'attachment; filename="qr-{invitation.formatted_code}.png"'
        return response



# --- consultant-domain records: view only ----------------------------------------------------


@admin.register(Lead)
class LeadAdmin(ViewOnlyAdmin):
    list_display = ("pk", "market", "client", "organisation", "state", "source", "claimed_by", "updated_at")
    list_filter = ("state", "source", "market")
    list_select_related = ("market", "client", "organisation", "claimed_by")
    search_fields = ("client__client_number",)
    exclude = ("note",)


@admin.register(Agreement)
class AgreementAdmin(ViewOnlyAdmin):
    list_display = ("client", "organisation", "activity", "hours_per_week", "start_date", "end_date", "version",
                    "is_current")
    list_filter = ("is_current", "organisation")
    list_select_related = ("client", "organisation", "activity")
    search_fields = ("client__client_number",)


@admin.register(Exemption)
class ExemptionAdmin(ViewOnlyAdmin):
    list_display = ("client", "category", "review_date", "created_at")
    list_filter = ("category",)
    list_select_related = ("client",)
    search_fields = ("client__client_number",)


@admin.register(ClientStatement)
class ClientStatementAdmin(ViewOnlyAdmin):
    list_display = ("invitation", "kind", "category", "handled", "created_at")
    list_filter = ("kind", "handled")
    list_select_related = ("invitation",)
