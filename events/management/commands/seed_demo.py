"""Create (idempotently) a demo district, an open market today with slots, organisations with
activities and stands, N clients with invitations, and the demo users (DESIGN.md §11)."""

from __future__ import annotations

import datetime as dt
import secrets
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from backend.auth import CONSULTANT, COORDINATOR, HOST, MEDIATOR, ensure_role_groups, grant_role
from events import services
from events.models import Activity, Client, District, Market, Organisation, Stand, TimeSlot

DEMO_DISTRICT = "Demo Noord"
DEMO_MARKET = "Vrijwilligersmarkt Demo Noord"
GIVEN = ["Ayşe", "Mohamed", "Fatima", "Jan", "Priya", "João", "Sevgi", "Kees", "Yusuf", "Maria",
         "Noor", "Pieter", "Aylin", "Said", "Ana", "Henk", "Zeynep", "Ahmed", "Ingrid", "Rui"]
FAMILY = ["Kaya", "El Amrani", "Bakker", "de Vries", "Ramdin", "Silva", "Yılmaz", "Jansen",
          "Öztürk", "Santos", "Haddad", "Visser", "Demir", "Bouzid", "Costa", "Smit", "Şahin",
          "Benali", "de Jong", "Ferreira"]
LANGS = ["nl", "nl", "tr", "ar", "nl", "pt", "tr", "nl", "ar", "en"]
ORGS = {
    "Buurthuis De Brug": [("Koffie schenken in het buurthuis", ["horeca", "contact"], 8),
                          ("Activiteiten voor ouderen begeleiden", ["zorg", "contact"], 5)],
    "Voedselbank Noord": [("Pakketten inpakken", ["logistiek"], 10),
                          ("Chauffeur bus", ["rijbewijs", "logistiek"], 2)],
    "Overschie voor Elkaar": [("Boodschappen doen voor buren", ["buurt", "contact"], 6)],
    "Stadstuin Rotterdam": [("Moestuin onderhouden", ["buiten", "groen"], 8),
                            ("Kinderen helpen in de tuin", ["kinderen", "groen"], 4)],
}


class Command(BaseCommand):
    help = "Create or refresh the demo data and demo users (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--password", help="Password for the demo users (default: random, printed)")
        parser.add_argument("--clients", type=int, default=40, help="Number of demo clients (default 40)")

    def handle(self, *args, password: str | None, clients: int, **options):
        generated = password is None
        password = password or secrets.token_urlsafe(9)
        with transaction.atomic():
            ensure_role_groups()
            district, _ = District.objects.get_or_create(name=DEMO_DISTRICT)
            users = self._users(password, district)
            market = self._market(district)
            self._organisations(market)
            self._clients(district, market, clients, users["consultant"])
        self.stdout.write(self.style.SUCCESS(
            f"Demo ready: market {market.pk} '{market.name}' ({market.state}), {clients} clients invited."))
        self.stdout.write("Demo users: coordinator, consultant, host, mediator")
        self.stdout.write(f"Password: {password}" + (" (generated)" if generated else ""))

    def _users(self, password: str, district: District) -> dict:
        User = get_user_model()
        users = {}
        for username, role in [("coordinator", COORDINATOR), ("consultant", CONSULTANT),
                               ("host", HOST), ("mediator", MEDIATOR)]:
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = role == COORDINATOR
            user.is_superuser = role == COORDINATOR
            user.save()
            grant_role(user, role)
            users[username] = user
        district.consultants.add(users["consultant"])
        return users

    def _market(self, district: District) -> Market:
        tz = ZoneInfo("Europe/Amsterdam")
        today = timezone.localdate(timezone=tz)
        starts = dt.datetime.combine(today, dt.time(0, 0), tzinfo=tz)
        ends = dt.datetime.combine(today, dt.time(23, 59), tzinfo=tz)
        market = Market.objects.filter(district=district, name=DEMO_MARKET).first()
        if market is None or market.state == Market.State.CLOSED:
            if market is not None:
                market.delete()
            market = services.market_create(
                district=district, name=DEMO_MARKET, venue="Wijkcentrum Het Anker",
                address="Ankerplein 1, 3031 AA Rotterdam", starts_at=starts, ends_at=ends,
                what_to_bring="Uw brief met de QR-code en een identiteitsbewijs.")
        elif market.starts_at.date() != today:
            Market.objects.filter(pk=market.pk).update(starts_at=starts, ends_at=ends)
            market.refresh_from_db()
        if not market.slots.exists():
            for hour in (10, 12, 14):
                services.timeslot_create(market=market,
                                         starts_at=dt.datetime.combine(today, dt.time(hour), tzinfo=tz),
                                         ends_at=dt.datetime.combine(today, dt.time(hour + 2), tzinfo=tz),
                                         capacity=60)
        services.market_open(market=market)
        market.refresh_from_db()
        return market

    def _organisations(self, market: Market) -> None:
        for org_name, activities in ORGS.items():
            org, _ = Organisation.objects.get_or_create(name=org_name)
            for title, tags, capacity in activities:
                Activity.objects.get_or_create(
                    organisation=org, title=title,
                    defaults={"tags": tags, "languages": ["nl"], "capacity": capacity,
                              "guidance_capacity": max(1, capacity // 2), "hours_min": 2, "hours_max": 16,
                              "displacement_checklist": {"no_paid_job_replaced": True, "additional_work": True}})
            Stand.objects.get_or_create(market=market, organisation=org)

    def _clients(self, district: District, market: Market, count: int, consultant) -> None:
        slots = list(market.slots.all())
        by_slot: dict[int, list[int]] = {}
        for i in range(count):
            number = f"DEMO{i + 1:05d}"
            client, _ = Client.objects.update_or_create(
                client_number=number,
                defaults={"given_name": GIVEN[i % len(GIVEN)], "family_name": FAMILY[(i * 7) % len(FAMILY)],
                          "language": LANGS[i % len(LANGS)], "district": district, "consultant": consultant})
            by_slot.setdefault(slots[i % len(slots)].pk if slots else 0, []).append(client.pk)
        slot_by_id = {s.pk: s for s in slots}
        for slot_id, client_ids in by_slot.items():
            services.invitation_issue_bulk(market=market, clients=client_ids, slot=slot_by_id.get(slot_id))
