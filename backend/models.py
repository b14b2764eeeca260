"""The market feed: a durable, gap-free, ordered stream per market (DESIGN.md §5).

The market is referenced by id only, so that backend does not import the events app.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class FeedHead(models.Model):
    """The per-market counter row. Locked with select_for_update() to take the next seq."""

    market_id = models.BigIntegerField(_("markt-id"), primary_key=True)
    head = models.BigIntegerField(_("laatste volgnummer"), default=0)

    class Meta:
        verbose_name = _("feedteller")
        verbose_name_plural = _("feedtellers")

    def __str__(self) -> str:
        return f"market {self.market_id} @ {self.head}"


class FeedEntry(models.Model):
    market_id = models.BigIntegerField(_("markt-id"))
    seq = models.BigIntegerField(_("volgnummer"))
    kind = models.CharField(_("soort"), max_length=64)
    data = models.JSONField(_("gegevens"))
    at = models.DateTimeField(_("tijd"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["market_id", "seq"], name="feed_entry_market_seq_unique"),
        ]
        ordering = ["market_id", "seq"]
        verbose_name = _("feedbericht")
        verbose_name_plural = _("feedberichten")

    def __str__(self) -> str:
        return f"{self.market_id}#{self.seq} {self.kind}"

    def as_message(self) -> dict:
        return {
            "type": "entry",
            "seq": self.seq,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "data": self.data,
        }


class AuditEvent(models.Model):
    """Append-only audit log (DESIGN.md §10): who did or read what, when, from where."""

    at = models.DateTimeField(_("tijd"), db_index=True)
    actor = models.CharField(_("wie"), max_length=150, blank=True, default="",
                             help_text=_("gebruikersnaam, device:<id> of system"))
    action = models.CharField(_("handeling"), max_length=32)  # read, create, update, delete, export, login ...
    object_type = models.CharField(_("soort gegevens"), max_length=64)
    object_id = models.CharField(_("id"), max_length=64, blank=True, default="")
    ip = models.GenericIPAddressField(_("IP-adres"), null=True, blank=True)
    detail = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("auditregel")
        verbose_name_plural = _("auditlog")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise RuntimeError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("The audit log is append-only.")
