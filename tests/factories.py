"""Test data built through the services (CONVENTIONS.md rule 7)."""

from __future__ import annotations

import datetime as dt
import itertools

from django.contrib.auth import get_user_model
from django.utils import timezone

from backend.auth import grant_role
from events import services
from events.models import Activity, Client, District, Invitation, Market, Organisation, Stand

_seq = itertools.count(1)


def district(name: str | None = None) -> District:
    return District.objects.create(name=name or f"District {next(_seq)}")


def user(username: str | None = None, *roles: str, districts: tuple[District, ...] = (), password: str = "pw-secret-123"):
    User = get_user_model()
    u = User.objects.create_user(username=username or f"user{next(_seq)}", password=password)
    for role in roles:
        grant_role(u, role)
    for d in districts:
        d.consultants.add(u)
    return u


def market(district_: District | None = None, *, state: str = "open", starts_in_hours: float = -1,
           hours: float = 4, name: str | None = None) -> Market:
    district_ = district_ or district()
    starts = timezone.now() + dt.timedelta(hours=starts_in_hours)
    m = services.market_create(district=district_, name=name or f"Markt {next(_seq)}", venue="Wijkcentrum De Hoek",
                               address="Hoekstraat 1, Rotterdam", starts_at=starts,
                               ends_at=starts + dt.timedelta(hours=hours))
    if state in ("open", "closed"):
        services.market_open(market=m)
    if state == "closed":
        services.market_close(market=m)
    m.refresh_from_db()
    return m


def client(district_: District, *, given: str = "Ayşe", family: str = "Kaya", language: str = "nl",
           number: str | None = None, **extra) -> Client:
    return Client.objects.create(client_number=number or f"C{next(_seq):07d}", given_name=given,
                                 family_name=family, language=language, district=district_, **extra)


def invitation(market_: Market, client_: Client | None = None) -> Invitation:
    client_ = client_ or client(market_.district)
    created = services.invitation_issue_bulk(market=market_, clients=[client_])
    return created[0] if created else Invitation.objects.get(market=market_, client=client_)


def organisation(name: str | None = None, *, activities: int = 2) -> Organisation:
    org = Organisation.objects.create(name=name or f"Organisatie {next(_seq)}")
    for i in range(activities):
        Activity.objects.create(organisation=org, title=f"Activiteit {i + 1} van {org.name}", capacity=3)
    return org


def stand(market_: Market, org: Organisation | None = None) -> Stand:
    return Stand.objects.create(market=market_, organisation=org or organisation())
