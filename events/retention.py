"""Retention (DESIGN.md §10): pseudonymise clients a configured period after their last market.

A pseudonymised client keeps its rows (invitations, leads, agreements, exemptions), so every
report keeps its figures; what identifies the person is replaced or emptied: the client's own
fields, every free-text field about them (lead notes and decline reasons, agreement reasons,
excuse reasons, what they typed on their page), and the copies of names and text in feed
entries. Apps that keep their own copies (check-in's stored scan answers, the kiosk's stored
registration answers) scrub them on `client_pseudonymised`, in the same transaction, with
`scrub_rows` — events does not import them (DESIGN.md §3).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.dispatch import Signal
from django.utils import timezone

from backend.audit import audit_record
from backend.models import FeedEntry
from events.models import Agreement, Client, ClientStatement, Invitation, Lead, LeadNote

PSEUDONYM_NAME = "Verwijderd"
# What a removed free text becomes: not empty, because whether there was a reason counts in the
# reports (a capacity override is one with a reason).
REMOVED_TEXT = "(verwijderd)"

# Sent inside the pseudonymising transaction: client, invitation_ids, lead_ids, display_name.
client_pseudonymised = Signal()

# Keys of copied free text in feed entries and stored answers: emptied (None where a key may be
# null). `message` is a host's or tablet's sentence with the name in it.
_TEXT_KEYS = {"note": "", "text": "", "message": "", "organisation_name": None}


def scrub_copy(value, display_name: str):
    """A JSON copy (feed entry data, a stored answer) without the person: every `display_name`
    replaced by the pseudonym's, free text emptied; nested objects too."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "display_name" and isinstance(item, str):
                out[key] = display_name
            elif key in _TEXT_KEYS and isinstance(item, str):
                out[key] = _TEXT_KEYS[key]
            else:
                out[key] = scrub_copy(item, display_name)
        return out
    if isinstance(value, list):
        return [scrub_copy(item, display_name) for item in value]
    return value


def clients_due(*, now: dt.datetime | None = None, days: int | None = None):
    now = now or timezone.now()
    days = settings.VM_RETENTION_DAYS if days is None else days
    cutoff = now - dt.timedelta(days=days)
    return (Client.objects.filter(pseudonymised_at__isnull=True)
            .annotate(last_market=Max("invitations__market__ends_at"))
            .filter(Q(last_market__lt=cutoff) | Q(last_market__isnull=True, created_at__lt=cutoff)))


def _pseudonym(client: Client) -> str:
    return hashlib.sha256(f"{settings.SECRET_KEY}:{client.pk}".encode()).hexdigest()[:12].upper()


def scrub_rows(queryset, field: str, display_name: str) -> None:
    """`scrub_copy` over the JSON `field` of these rows, written back in batches (only the rows
    that change)."""
    changed = []
    for row in queryset.only("pk", field):
        value = getattr(row, field)
        scrubbed = scrub_copy(value, display_name)
        if scrubbed != value:
            setattr(row, field, scrubbed)
            changed.append(row)
    queryset.model.objects.bulk_update(changed, [field], batch_size=500)


def _remove_text(queryset, *fields: str) -> None:
    for name in fields:
        queryset.exclude(**{name: ""}).update(**{name: REMOVED_TEXT})


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
        invitation_ids = set(Invitation.objects.filter(client=client).values_list("pk", flat=True))
        lead_ids = set(Lead.objects.filter(client=client).values_list("pk", flat=True))
        _remove_text(Invitation.objects.filter(pk__in=invitation_ids), "excuse_reason")
        _remove_text(Lead.objects.filter(pk__in=lead_ids), "note", "declined_reason")
        _remove_text(LeadNote.objects.filter(lead_id__in=lead_ids), "text")
        _remove_text(Agreement.objects.filter(client=client), "hours_reason", "capacity_override_reason")
        _remove_text(ClientStatement.objects.filter(invitation_id__in=invitation_ids), "organisation_name")
        display = client.display_name
        market_ids = set(Invitation.objects.filter(pk__in=invitation_ids).values_list("market_id", flat=True))
        # The entries about this client, picked by the database (a market holds thousands of
        # entries and retention pseudonymises its clients one after the other).
        about = Q(data__client_id=client.pk) | (Q(data__lead_id__in=lead_ids) if lead_ids else Q(pk__in=[]))
        scrub_rows(FeedEntry.objects.filter(market_id__in=market_ids).filter(about), "data", display)
        client_pseudonymised.send(sender=Client, client=client, invitation_ids=invitation_ids,
                                  lead_ids=lead_ids, display_name=display)
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
