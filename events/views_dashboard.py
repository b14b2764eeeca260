"""The consultant dashboard pages (DESIGN.md §2): the markets a user may follow, and one
market live. The page is a shell; backend/static/backend/feed.js and
events/static/events/dashboard.js fill it from the snapshot and the feed."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext

from backend.auth import CONSULTANT, COORDINATOR, has_role
from backend.errors import Forbidden, NotFound
from events.lead_labels import CONSTRAINT_LABELS, STATEMENT_LABELS
from events.selectors import market_get_for_user, markets_visible_to

DASHBOARD_ROLES = (COORDINATOR, CONSULTANT)


@login_required
def dashboard_index(request):
    if not has_role(request.user, *DASHBOARD_ROLES):
        raise PermissionDenied
    markets = markets_visible_to(request.user)
    return render(request, "events/dashboard_index.html", {"markets": markets})


@login_required
def dashboard_market(request, market_id: int):
    try:
        market = market_get_for_user(user=request.user, market_id=market_id, roles=DASHBOARD_ROLES)
    except NotFound as exc:
        raise Http404 from exc
    except Forbidden as exc:
        raise PermissionDenied from exc
    statement_labels = {"kinds": {k: str(v) for k, v in STATEMENT_LABELS.items()},
                        "categories": {k: str(v) for k, v in CONSTRAINT_LABELS.items()},
                        "hours": gettext("%(hours)s uur per week")}
    return render(request, "events/dashboard_market.html", {
        "market": market,
        "heartbeat_seconds": settings.VM_FEED_HEARTBEAT_SECONDS,
        "statement_labels": json.dumps(statement_labels),
    })
