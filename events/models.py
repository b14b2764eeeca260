"""The market domain (DESIGN.md §1, §6, §9). Writes go through events.services."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

LANGUAGE_CHOICES = [("nl", "Nederlands"), ("en", "English"), ("tr", "Türkçe"),
                    ("ar", "العربية"), ("pt", "Português")]
LANGUAGE_CODES = {code for code, _label in LANGUAGE_CHOICES}


class District(models.Model):
    name = models.CharField(_("naam"), max_length=100, unique=True)
    consultants = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="districts",
                                         verbose_name=_("consulenten"))

    class Meta:
        verbose_name = _("wijk")
        verbose_name_plural = _("wijken")

    def __str__(self) -> str:
        return self.name


class Market(models.Model):
    class State(models.TextChoices):
        PLANNED = "planned", _("planned")
        OPEN = "open", _("open")
        CLOSED = "closed", _("closed")

    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="markets", verbose_name=_("wijk"))
    name = models.CharField(_("naam"), max_length=200)
    venue = models.CharField(_("gebouw"), max_length=200)
    address = models.CharField(_("adres"), max_length=300)
    starts_at = models.DateTimeField(_("begint om"))
    ends_at = models.DateTimeField(_("eindigt om"))
    state = models.CharField(_("status"), max_length=10, choices=State.choices, default=State.PLANNED)
    what_to_bring = models.TextField(_("wat meenemen"), blank=True, default="")
    opened_at = models.DateTimeField(_("geopend om"), null=True, blank=True)
    closed_at = models.DateTimeField(_("gesloten om"), null=True, blank=True)
    created_at = models.DateTimeField(_("gemaakt op"), auto_now_add=True)

    class Meta:
        verbose_name = _("markt")
        verbose_name_plural = _("markten")
        ordering = ["starts_at"]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")),
                                              name="market_ends_after_start")]

    def __str__(self) -> str:
        return self.name


class TimeSlot(models.Model):
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="slots", verbose_name=_("markt"))
    starts_at = models.DateTimeField(_("begint om"))
    ends_at = models.DateTimeField(_("eindigt om"))
    capacity = models.PositiveIntegerField(_("aantal plaatsen"), default=50)

    class Meta:
        verbose_name = _("tijdvak")
        verbose_name_plural = _("tijdvakken")
        ordering = ["starts_at"]

    def __str__(self) -> str:
        # Local time (the market's Europe/Amsterdam), as on the letter; the database keeps UTC.
        return f"{timezone.localtime(self.starts_at):%H:%M}–{timezone.localtime(self.ends_at):%H:%M}"


class Organisation(models.Model):
    name = models.CharField(_("naam"), max_length=200, unique=True)
    description = models.TextField(_("beschrijving"), blank=True, default="")
    contact_name = models.CharField(_("contactpersoon"), max_length=200, blank=True, default="")
    contact_email = models.EmailField(_("e-mail van de contactpersoon"), blank=True, default="")

    class Meta:
        verbose_name = _("organisatie")
        verbose_name_plural = _("organisaties")

    def __str__(self) -> str:
        return self.name


class Activity(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="activities",
                                     verbose_name=_("organisatie"))
    title = models.CharField(_("titel"), max_length=200)
    description = models.TextField(_("beschrijving"), blank=True, default="")
    tags = models.JSONField(_("trefwoorden"), default=list, blank=True)
    languages = models.JSONField(_("talen"), default=list, blank=True)
    hours_min = models.PositiveSmallIntegerField(_("uren per week, minimaal"), default=2)
    hours_max = models.PositiveSmallIntegerField(_("uren per week, hoogstens"), default=16)
    capacity = models.PositiveIntegerField(_("plaatsen"), default=5,
                                           help_text=_("Hoeveel vrijwilligers dit tegelijk kunnen doen."))
    guidance_capacity = models.PositiveIntegerField(
        _("begeleiding"), default=2, help_text=_("Hoeveel nieuwe vrijwilligers de organisatie kan begeleiden."))
    # Displacement (verdringing) checklist: the activity must not replace paid work.
    displacement_checklist = models.JSONField(_("controle op verdringing"), default=dict, blank=True)
    active = models.BooleanField(_("actief"), default=True)

    class Meta:
        verbose_name = _("activiteit")
        verbose_name_plural = _("activiteiten")
        ordering = ["organisation__name", "title"]

    def __str__(self) -> str:
        return f"{self.title} ({self.organisation})"


class Stand(models.Model):
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="stands", verbose_name=_("markt"))
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="stands",
                                     verbose_name=_("organisatie"))
    location = models.CharField(_("plek"), max_length=100, blank=True, default="")

    class Meta:
        verbose_name = _("stand")
        verbose_name_plural = _("stands")
        constraints = [models.UniqueConstraint(fields=["market", "organisation"], name="stand_one_per_org_per_market")]

    def __str__(self) -> str:
        return f"{self.organisation} @ {self.market}"


class Client(models.Model):
    client_number = models.CharField(_("cliëntnummer"), max_length=32, unique=True)
    given_name = models.CharField(_("voornaam"), max_length=150)
    family_name = models.CharField(_("achternaam"), max_length=150)
    language = models.CharField(_("taal"), max_length=8, choices=LANGUAGE_CHOICES, default="nl")
    district = models.ForeignKey(District, on_delete=models.PROTECT, related_name="clients", verbose_name=_("wijk"))
    consultant = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="clients", verbose_name=_("consulent"))
    email = models.EmailField(_("e-mail"), blank=True, default="")
    phone = models.CharField(_("telefoon"), max_length=32, blank=True, default="")
    address = models.CharField(_("adres"), max_length=300, blank=True, default="")
    pseudonymised_at = models.DateTimeField(_("gepseudonimiseerd op"), null=True, blank=True)
    created_at = models.DateTimeField(_("gemaakt op"), auto_now_add=True)
    updated_at = models.DateTimeField(_("gewijzigd op"), auto_now=True)

    class Meta:
        verbose_name = _("cliënt")
        verbose_name_plural = _("cliënten")
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

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("cliënt"))
    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("markt"))
    slot = models.ForeignKey(TimeSlot, null=True, blank=True, on_delete=models.SET_NULL, related_name="invitations",
                             verbose_name=_("tijdvak"))
    token = models.CharField(max_length=64, unique=True)
    code = models.CharField(_("code"), max_length=8, unique=True, help_text=_("De korte code zonder streepje."))
    state = models.CharField(_("status"), max_length=12, choices=State.choices, default=State.ISSUED)
    round = models.PositiveSmallIntegerField(_("ronde"), default=1)
    previous = models.OneToOneField("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="follow_up", verbose_name=_("vorige uitnodiging"))
    walk_in = models.BooleanField(_("kwam zonder uitnodiging"), default=False)
    issued_at = models.DateTimeField(_("uitgenodigd op"), auto_now_add=True)
    checked_in_at = models.DateTimeField(_("aangemeld om"), null=True, blank=True)
    checked_in_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+", verbose_name=_("aangemeld door"))
    confirmed_at = models.DateTimeField(_("bevestigd op"), null=True, blank=True)
    excused_at = models.DateTimeField(_("afgemeld op"), null=True, blank=True)
    excuse_category = models.CharField(_("reden van afmelden"), max_length=16, choices=ExcuseCategory.choices,
                                       blank=True, default="")
    excuse_reason = models.CharField(_("uitleg bij het afmelden"), max_length=500, blank=True, default="")

    class Meta:
        verbose_name = _("uitnodiging")
        verbose_name_plural = _("uitnodigingen")
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

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="leads", verbose_name=_("markt"))
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="leads", verbose_name=_("cliënt"))
    organisation = models.ForeignKey(Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="leads",
                                     verbose_name=_("organisatie"))
    stand = models.ForeignKey(Stand, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads",
                              verbose_name=_("stand"))
    activities = models.ManyToManyField(Activity, blank=True, related_name="leads", verbose_name=_("activiteiten"))
    tags = models.JSONField(_("trefwoorden"), default=list, blank=True)
    source = models.CharField(_("bron"), max_length=12, choices=Source.choices)
    state = models.CharField(_("status"), max_length=12, choices=State.choices, default=State.NEW)
    warmth = models.CharField(_("interesse"), max_length=8, choices=Warmth.choices, null=True, blank=True)
    note = models.CharField(_("notitie van de organisatie"), max_length=1000, blank=True, default="")
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="claimed_leads",
                                   verbose_name=_("genomen door"))
    claimed_at = models.DateTimeField(_("genomen om"), null=True, blank=True)
    follow_up_on = models.DateField(_("vervolgafspraak op"), null=True, blank=True)
    declined_by = models.CharField(_("afgewezen door"), max_length=16, choices=DeclinedBy.choices,
                                   blank=True, default="")
    declined_reason = models.CharField(_("reden van afwijzen"), max_length=500, blank=True, default="")
    created_at = models.DateTimeField(_("gemaakt op"), auto_now_add=True)
    updated_at = models.DateTimeField(_("gewijzigd op"), auto_now=True)

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        constraints = [
            # One lead per client per organisation per market, so one per client per stand.
            models.UniqueConstraint(fields=["market", "client", "organisation"], name="lead_one_per_client_per_org",
                                    condition=Q(organisation__isnull=False)),
        ]
        indexes = [models.Index(fields=["market", "state"])]

    def __str__(self) -> str:
        return f"lead {self.pk} {self.state}"


class LeadNote(models.Model):
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="notes", verbose_name=_("lead"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
                               verbose_name=_("schrijver"))
    text = models.CharField(_("tekst"), max_length=2000)
    created_at = models.DateTimeField(_("gemaakt op"), auto_now_add=True)

    class Meta:
        ordering = ["created_at"]


class Agreement(models.Model):
    """One version of an agreement. A change writes a new row with version + 1."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="agreements", verbose_name=_("cliënt"))
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="agreements",
                             verbose_name=_("lead"))
    market = models.ForeignKey(Market, null=True, blank=True, on_delete=models.SET_NULL, related_name="agreements",
                               verbose_name=_("markt"))
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="agreements",
                                     verbose_name=_("organisatie"))
    activity = models.ForeignKey(Activity, null=True, blank=True, on_delete=models.PROTECT, related_name="agreements",
                                 verbose_name=_("activiteit"))
    hours_per_week = models.DecimalField(_("uren per week"), max_digits=4, decimal_places=1)
    hours_reason = models.CharField(_("reden voor meer uren"), max_length=500, blank=True, default="")
    start_date = models.DateField(_("startdatum"))
    end_date = models.DateField(_("einddatum of evaluatiedatum"), null=True, blank=True)
    capacity_override_reason = models.CharField(_("reden om boven de capaciteit af te spreken"),
                                                max_length=500, blank=True, default="")
    formalised = models.BooleanField(_("bestaand vrijwilligerswerk vastgelegd"), default=False,
                                     help_text=_("Vrijwilligerswerk dat de cliënt al deed, nu in een afspraak."))
    version = models.PositiveSmallIntegerField(_("versie"), default=1)
    previous = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="next_version", verbose_name=_("vorige versie"))
    is_current = models.BooleanField(_("geldt nu"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("gemaakt door"))
    created_at = models.DateTimeField(_("gemaakt op"), auto_now_add=True)

    class Meta:
        verbose_name = _("afspraak")
        verbose_name_plural = _("afspraken")
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

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="exemptions", verbose_name=_("cliënt"))
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="exemptions",
                             verbose_name=_("lead"))
    market = models.ForeignKey(Market, null=True, blank=True, on_delete=models.SET_NULL, related_name="exemptions",
                               verbose_name=_("markt"))
    category = models.CharField(_("reden (categorie)"), max_length=16, choices=Category.choices)
    review_date = models.DateField(_("opnieuw bekijken op"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=_("gemaakt door"))
    created_at = models.DateTimeField(_("gemaakt op"), auto_now_add=True)

    class Meta:
        verbose_name = _("vrijstelling")
        verbose_name_plural = _("vrijstellingen")


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

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="statements",
                                   verbose_name=_("uitnodiging"))
    kind = models.CharField(_("soort"), max_length=16, choices=Kind.choices)
    category = models.CharField(_("categorie"), max_length=16, choices=ConstraintCategory.choices,
                                blank=True, default="")
    organisation_name = models.CharField(_("naam van de organisatie"), max_length=200, blank=True, default="")
    hours_per_week = models.DecimalField(_("uren per week"), max_digits=4, decimal_places=1, null=True, blank=True)
    tags = models.JSONField(_("trefwoorden"), default=list, blank=True)
    handled = models.BooleanField(_("afgehandeld"), default=False)
    created_at = models.DateTimeField(_("gemaakt op"), auto_now_add=True)

    class Meta:
        verbose_name = _("bericht van de cliënt")
        verbose_name_plural = _("berichten van cliënten")
