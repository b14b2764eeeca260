"""The market domain (DESIGN.md §1, §6, §9). Writes go through events.services."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

LANGUAGE_CHOICES = [("nl", "Nederlands"), ("en", "English"), ("tr", "Türkçe"),
                    ("ar", "العربية"), ("pt", "Português")]
LANGUAGE_CODES = {code for code, _label in LANGUAGE_CHOICES}


class District(models.Model):
    name = models.CharField(max_length=100, unique=True)
    consultants = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="districts")

    def __str__(self) -> str:
        return self.name


class Market(models.Model):
    class State(models.TextChoices):
        PLANNED = "planned", _("planned")
        OPEN = "open", _("open")
        CLOSED = "closed", _("closed")

    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="markets")
    name = models.CharField(max_length=200)
    venue = models.CharField(max_length=200)
    address = models.CharField(max_length=300)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PLANNED)
    what_to_bring = models.TextField(blank=True, default="")
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")),
                                              name="market_ends_after_start")]

    def __str__(self) -> str:
        return self.name


class TimeSlot(models.Model):
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="slots")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveIntegerField(default=50)

    class Meta:
        ordering = ["starts_at"]

    def __str__(self) -> str:
        return f"{self.starts_at:%H:%M}–{self.ends_at:%H:%M}"


class Organisation(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True, default="")
    contact_name = models.CharField(max_length=200, blank=True, default="")
    contact_email = models.EmailField(blank=True, default="")

    def __str__(self) -> str:
        return self.name


class Activity(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="activities")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    tags = models.JSONField(default=list, blank=True)
    languages = models.JSONField(default=list, blank=True)
    hours_min = models.PositiveSmallIntegerField(default=2)
    hours_max = models.PositiveSmallIntegerField(default=16)
    capacity = models.PositiveIntegerField(default=5, help_text="How many volunteers can do this at once.")
    guidance_capacity = models.PositiveIntegerField(default=2, help_text="How many new volunteers the organisation can guide.")
    # Displacement (verdringing) checklist: the activity must not replace paid work.
    displacement_checklist = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "activities"
        ordering = ["organisation__name", "title"]

    def __str__(self) -> str:
        return f"{self.title} ({self.organisation})"


class Stand(models.Model):
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="stands")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="stands")
    location = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["market", "organisation"], name="stand_one_per_org_per_market")]

    def __str__(self) -> str:
        return f"{self.organisation} @ {self.market}"


class Client(models.Model):
    client_number = models.CharField(max_length=32, unique=True)
    given_name = models.CharField(max_length=150)
    family_name = models.CharField(max_length=150)
    language = models.CharField(max_length=8, choices=LANGUAGE_CHOICES, default="nl")
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="clients")
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="clients")
    email = models.EmailField(blank=True, default="")
    phone = models.CharField(max_length=32, blank=True, default="")
    address = models.CharField(max_length=300, blank=True, default="")
    pseudonymised_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["district", "family_name"])]

    def __str__(self) -> str:
        return f"{self.client_number} {self.display_name}"

    @property
    def display_name(self) -> str:
        """The minimal name organisations and hosts may see: given name + family initial."""
        initial = self.family_name[:1]
        return f"{self.given_name} {initial}." if initial else self.given_name


class Invitation(models.Model):
    class State(models.TextChoices):
        ISSUED = "issued", _("issued")
        CHECKED_IN = "checked_in", _("checked in")
        EXCUSED = "excused", _("excused")
        NO_SHOW = "no_show", _("no-show")
        REVOKED = "revoked", _("revoked")

    class ExcuseCategory(models.TextChoices):
        ILLNESS = "illness", _("ill")
        CARE = "care", _("care duties")
        WORK = "work", _("work or job interview")
        APPOINTMENT = "appointment", _("other appointment")
        OTHER = "other", _("other reason")

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="invitations")
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="invitations")
    slot = models.ForeignKey(TimeSlot, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations")
    token = models.CharField(max_length=64, unique=True)
    code = models.CharField(max_length=8, unique=True, help_text="Short code without the dash.")
    state = models.CharField(max_length=12, choices=State.choices, default=State.ISSUED)
    round = models.PositiveSmallIntegerField(default=1)
    previous = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="follow_up")
    walk_in = models.BooleanField(default=False)
    issued_at = models.DateTimeField(auto_now_add=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    checked_in_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    excused_at = models.DateTimeField(null=True, blank=True)
    excuse_category = models.CharField(max_length=16, choices=ExcuseCategory.choices, blank=True, default="")
    excuse_reason = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "market"], name="invitation_one_per_client_per_market")]
        indexes = [models.Index(fields=["market", "state"])]

    def __str__(self) -> str:
        return f"{self.formatted_code} ({self.state})"

    @property
    def formatted_code(self) -> str:
        return f"{self.code[:4]}-{self.code[4:]}"


class Lead(models.Model):
    class Source(models.TextChoices):
        KIOSK = "kiosk", _("kiosk")
        CLIENT = "client", _("client")
        CONSULTANT = "consultant", _("consultant")

    class State(models.TextChoices):
        NEW = "new", _("new")
        CLAIMED = "claimed", _("claimed")
        AGREEMENT = "agreement", _("agreement")
        EXEMPTION = "exemption", _("exemption")
        FOLLOW_UP = "follow_up", _("follow-up")
        DECLINED = "declined", _("declined")

    class Warmth(models.TextChoices):
        COLD = "cold", _("cold")
        WARM = "warm", _("warm")
        HOT = "hot", _("hot")

    class DeclinedBy(models.TextChoices):
        CLIENT = "client", _("client")
        ORGANISATION = "organisation", _("organisation")

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="leads")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="leads")
    organisation = models.ForeignKey(Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="leads")
    stand = models.ForeignKey(Stand, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads")
    activities = models.ManyToManyField(Activity, blank=True, related_name="leads")
    tags = models.JSONField(default=list, blank=True)
    source = models.CharField(max_length=12, choices=Source.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.NEW)
    warmth = models.CharField(max_length=8, choices=Warmth.choices, null=True, blank=True)
    note = models.CharField(max_length=1000, blank=True, default="")
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="claimed_leads")
    claimed_at = models.DateTimeField(null=True, blank=True)
    follow_up_on = models.DateField(null=True, blank=True)
    declined_by = models.CharField(max_length=16, choices=DeclinedBy.choices, blank=True, default="")
    declined_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One lead per client per organisation per market, so one per client per stand.
            models.UniqueConstraint(fields=["market", "client", "organisation"], name="lead_one_per_client_per_org",
                                    condition=Q(organisation__isnull=False)),
        ]
        indexes = [models.Index(fields=["market", "state"])]

    def __str__(self) -> str:
        return f"lead {self.pk} {self.state}"


class LeadNote(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.CharField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]


class Agreement(models.Model):
    """One version of an agreement. A change writes a new row with version + 1."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="agreements")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="agreements")
    market = models.ForeignKey(Market, null=True, blank=True, on_delete=models.SET_NULL, related_name="agreements")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="agreements")
    activity = models.ForeignKey(Activity, null=True, blank=True, on_delete=models.PROTECT, related_name="agreements")
    hours_per_week = models.DecimalField(max_digits=4, decimal_places=1)
    hours_reason = models.CharField(max_length=500, blank=True, default="")
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    capacity_override_reason = models.CharField(max_length=500, blank=True, default="")
    formalised = models.BooleanField(default=False, help_text="Existing volunteering made formal.")
    version = models.PositiveSmallIntegerField(default=1)
    previous = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="next_version")
    is_current = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(hours_per_week__gt=0) & Q(hours_per_week__lte=40),
                                   name="agreement_hours_range"),
            models.CheckConstraint(condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                                   name="agreement_end_after_start"),
        ]


class Exemption(models.Model):
    class Category(models.TextChoices):
        CARE = "care", _("care duties")
        HEALTH = "health", _("health")
        LANGUAGE = "language", _("language course first")
        DEBT = "debt", _("debt counselling")
        WORKING = "working", _("already working")
        VOLUNTEERING = "volunteering", _("already volunteering")

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="exemptions")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="exemptions")
    market = models.ForeignKey(Market, null=True, blank=True, on_delete=models.SET_NULL, related_name="exemptions")
    category = models.CharField(max_length=16, choices=Category.choices)
    review_date = models.DateField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)


class ClientStatement(models.Model):
    """What a client said on their own page (DESIGN.md §9): a wish, current volunteering, a constraint."""

    class Kind(models.TextChoices):
        WISH = "wish", _("wish")
        VOLUNTEERING = "volunteering", _("already volunteering")
        CONSTRAINT = "constraint", _("something makes volunteering hard")

    class ConstraintCategory(models.TextChoices):
        CARE = "care", _("care duties")
        HEALTH = "health", _("health")
        LANGUAGE = "language", _("language")
        DEBT = "debt", _("debts")

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="statements")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    category = models.CharField(max_length=16, choices=ConstraintCategory.choices, blank=True, default="")
    organisation_name = models.CharField(max_length=200, blank=True, default="")
    hours_per_week = models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    handled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
