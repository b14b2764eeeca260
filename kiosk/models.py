"""Organisation tablets (DESIGN.md §8): pairing codes, paired devices and the interest replay log.

Secrets are never stored: a pairing code and a device token are kept as their SHA-256 hex
digest. A database dump therefore yields neither a live device token nor a live pairing code.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from events.models import Stand


class PairingCode(models.Model):
    """A short, single-use, expiring code a coordinator creates for one stand."""

    stand = models.ForeignKey(Stand, on_delete=models.CASCADE, related_name="pairing_codes", verbose_name=_("stand"))
    code_hash = models.CharField(_("hash van de code"), max_length=64, unique=True)
    expires_at = models.DateTimeField(_("geldig tot"))
    used_at = models.DateTimeField(_("gebruikt om"), null=True, blank=True)
    device = models.OneToOneField("Device", null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="pairing_code", verbose_name=_("tablet"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+", verbose_name=_("gemaakt door"))
    created_at = models.DateTimeField(_("gemaakt op"), auto_now_add=True)

    class Meta:
        verbose_name = _("koppelcode")
        verbose_name_plural = _("koppelcodes")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return _("koppelcode voor %(stand)s (tot %(time)s)") % {
            "stand": self.stand, "time": f"{timezone.localtime(self.expires_at):%H:%M}"}


class Device(models.Model):
    """A tablet paired to one stand (so to one organisation at one market)."""

    stand = models.ForeignKey(Stand, on_delete=models.CASCADE, related_name="devices", verbose_name=_("stand"))
    token_hash = models.CharField(_("hash van het token"), max_length=64, unique=True)
    label = models.CharField(_("naam"), max_length=100, blank=True, default="")
    created_at = models.DateTimeField(_("gekoppeld op"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("laatst gezien"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("ingetrokken op"), null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+", verbose_name=_("ingetrokken door"))

    class Meta:
        verbose_name = _("tablet")
        verbose_name_plural = _("tablets")
        ordering = ["stand_id", "created_at"]

    def __str__(self) -> str:
        return self.label or f"tablet {self.pk}"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class InterestRequest(models.Model):
    """One interest registration as a device sent it, with the first answer (replay safety).

    The same (device, nonce) again returns `response` and writes nothing. `fingerprint` is a
    hash of the request body: a nonce re-used for a different body is refused.
    """

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="interest_requests",
                               verbose_name=_("tablet"))
    nonce = models.CharField(_("nonce"), max_length=64)
    fingerprint = models.CharField(_("vingerafdruk van het verzoek"), max_length=64)
    status = models.CharField(_("uitkomst"), max_length=8)
    reason = models.CharField(_("reden"), max_length=32, blank=True, default="")
    lead = models.ForeignKey("events.Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                             verbose_name=_("lead"))
    response = models.JSONField(_("antwoord"))
    received_at = models.DateTimeField(_("ontvangen om"), auto_now_add=True)

    class Meta:
        verbose_name = _("aanmelding van een tablet")
        verbose_name_plural = _("aanmeldingen van tablets")
        constraints = [
            models.UniqueConstraint(fields=["device", "nonce"], name="kiosk_interest_nonce_unique_per_device"),
        ]

    def __str__(self) -> str:
        return f"{self.device_id}/{self.nonce} {self.status} {self.reason}"
