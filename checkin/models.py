"""Every scan at the entrance, failed ones too (DESIGN.md §7): audit, statistics and replay."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Scan(models.Model):
    class Method(models.TextChoices):
        QR = "qr", "QR"
        CODE = "code", "code"
        WALK_IN = "walk_in", "walk-in"

    class Status(models.TextChoices):
        OK = "ok", "ok"
        ERROR = "error", "error"

    market = models.ForeignKey("events.Market", on_delete=models.CASCADE, related_name="scans")
    invitation = models.ForeignKey("events.Invitation", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="scans")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    # A paired scanner device (later); free text so the audit keeps it after the device is gone.
    device = models.CharField(max_length=100, null=True, blank=True)
    nonce = models.CharField(max_length=64, unique=True)
    # sha256 of what the scan asked for (market, method, normalised token/code): a nonce
    # sent again with another request is refused instead of answered with the first answer.
    fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=8, choices=Method.choices)
    scanned_at = models.DateTimeField(null=True, blank=True, help_text="Device time of the scan (offline queue).")
    received_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices)
    reason = models.CharField(max_length=24, null=True, blank=True)
    # The exact first answer; returned again (with replayed: true) when the nonce comes back.
    response = models.JSONField()

    class Meta:
        indexes = [
            models.Index(fields=["market", "received_at"], name="scan_market_received"),
            models.Index(fields=["market", "status", "reason"], name="scan_market_outcome"),
            models.Index(fields=["invitation", "received_at"], name="scan_invitation_received"),
        ]
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"scan {self.nonce} {self.status}/{self.reason or '-'}"
