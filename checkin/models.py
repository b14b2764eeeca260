"""Every scan at the entrance, failed ones too (DESIGN.md §7): audit, statistics and replay."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Scan(models.Model):
    class Method(models.TextChoices):
        QR = "qr", "QR"
        CODE = "code", _("code")
        WALK_IN = "walk_in", _("inloop")

    class Status(models.TextChoices):
        OK = "ok", _("ok")
        ERROR = "error", _("fout")

    market = models.ForeignKey("events.Market", on_delete=models.CASCADE, related_name="scans", verbose_name=_("markt"))
    invitation = models.ForeignKey("events.Invitation", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="scans", verbose_name=_("uitnodiging"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+", verbose_name=_("gebruiker"))
    # A paired scanner device (later); free text so the audit keeps it after the device is gone.
    device = models.CharField(_("apparaat"), max_length=100, null=True, blank=True)
    nonce = models.CharField(_("nonce"), max_length=64, unique=True)
    # sha256 of what the scan asked for (market, method, normalised token/code): a nonce
    # sent again with another request is refused instead of answered with the first answer.
    fingerprint = models.CharField(_("vingerafdruk van het verzoek"), max_length=64)
    method = models.CharField(_("manier"), max_length=8, choices=Method.choices)
    scanned_at = models.DateTimeField(_("gescand om"), null=True, blank=True,
                                      help_text=_("De tijd op het apparaat (bij scans zonder internet)."))
    received_at = models.DateTimeField(_("ontvangen om"))
    status = models.CharField(_("uitkomst"), max_length=8, choices=Status.choices)
    reason = models.CharField(_("reden"), max_length=24, null=True, blank=True)
    # The exact first answer; returned again (with replayed: true) when the nonce comes back.
    response = models.JSONField(_("antwoord"))

    class Meta:
        verbose_name = _("scan")
        verbose_name_plural = _("scans")
        indexes = [
            models.Index(fields=["market", "received_at"], name="scan_market_received"),
            models.Index(fields=["market", "status", "reason"], name="scan_market_outcome"),
            models.Index(fields=["invitation", "received_at"], name="scan_invitation_received"),
        ]
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"scan {self.nonce} {self.status}/{self.reason or '-'}"
