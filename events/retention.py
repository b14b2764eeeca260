"""Retention (DESIGN.md §10): pseudonymise clients a configured period after their last market.

A pseudonymised client keeps its rows (invitations, leads, agreements, exemptions), so every
report keeps its figures; what identifies the person is replaced or emptied, including the
display names copied into feed entries and free-text notes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from backend.audit import audit_record
from backend.models import FeedEntry
from events.models import Client, ClientStatement, Lead, LeadNote

PSEUDONYM_NAME = "Verwijderd"


def clients_due(*, now: dt.datetime | None = None, days: int | None = None):
    now = now or timezone.now()
    days = settings.VM_RETENTION_DAYS if days is None else days
    cutoff = now - dt.timedelta(days=days)
    return (Client.objects.filter(pseudonymised_at__isnull=True)
            .annotate(last_market=Max("invitations__market__ends_at"))
            .filter(Q(last_market__lt=cutoff) | Q(last_market__isnull=True, created_at__lt=cutoff)))


def _pseudonym(client: Client) -> str:
    return hashlib.sha256(f"{settings.SECRET_KEY}:{client.pk}".encode()).hexdigest()[:12].upper()


def client_pseudonymise(*, client: Client) -> None:
    with transaction.atomic():
        tag = _pseudonym(client)
        client.client_number = f"PSEUDO-{tag}"
        client.given_name = PSEUDONYM_NAME
        client.family_name = tag
        client.email = client.phone = client.address = ""
        client.consultant = None
        client.pseudonymised_at = timezone.now()
        client.save()
        Lead.objects.filter(client=client).update(note="")
        LeadNote.objects.filter(lead__client=client).update(text="")
        ClientStatement.objects.filter(invitation__client=client).update(organisation_name="")
        display = client.display_name
        market_ids = list(client.invitations.values_list("market_id", flat=True))
        for entry in FeedEntry.objects.filter(market_id__in=market_ids).iterator(chunk_size=1000):
            data = entry.data
            if data.get("client_id") == client.pk and "display_name" in data:
                data["display_name"] = display
                if "note" in data:
                    data["note"] = ""
                FeedEntry.objects.filter(pk=entry.pk).update(data=data)
        audit_record(action="pseudonymise", object_type="client", object_id=client.pk, actor="system:retention")


def retention_run(*, now: dt.datetime | None = None, days: int | None = None, dry_run: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> int:
    due = list(clients_due(now=now, days=days).values_list("pk", flat=True))
    if dry_run:
        return len(due)
    for done, pk in enumerate(due, start=1):
        client = Client.objects.filter(pk=pk, pseudonymised_at__isnull=True).first()
        if client is not None:
            client_pseudonymise(client=client)
        if progress:
            progress(done, len(due))
    return len(due)
