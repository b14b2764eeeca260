"""The audit log: one function to record, and the request context that says who and from where.

`AuditContextMiddleware` puts the current actor and IP in a context variable, so services and
model signals can record an event without having the request passed down to them.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from backend import rawsql
from backend.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    label: str
    ip: str | None


_current: contextvars.ContextVar[Actor | Any | None] = contextvars.ContextVar("vm_audit_actor", default=None)


def set_actor(label: str, ip: str | None = None) -> contextvars.Token:
    return _current.set(Actor(label=label, ip=ip))


def reset_actor(token: contextvars.Token) -> None:
    _current.reset(token)


def current_actor() -> Actor:
    current = _current.get()
    if current is None:
        return Actor(label="system", ip=None)
    if isinstance(current, Actor):
        return current
    # A request: who it is is only worked out when something is recorded, so requests that
    # record nothing never load the user for the audit log.
    user = getattr(current, "user", None)
    device = getattr(current, "auth", None)
    if user is not None and user.is_authenticated:
        label = user.get_username()
    elif device is not None and hasattr(device, "stand_id"):
        label = f"device:{device.pk}"
    else:
        label = "anonymous"
    return Actor(label=label, ip=_request_ip(current))


def audit_record(*, action: str, object_type: str, object_id: Any = "", detail: dict | None = None,
                 actor: str | None = None) -> None:
    """Append one event (a plain INSERT: the audit hooks run on hot paths such as every kiosk
    registration, backend.rawsql)."""
    who = current_actor()
    rawsql.insert(AuditEvent, {
        "at": timezone.now(), "actor": (actor or who.label)[:150], "action": action,
        "object_type": object_type, "object_id": str(object_id)[:64], "ip": who.ip, "detail": detail or {}})


def _request_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class AuditContextMiddleware:
    """Sets the audit actor for the request (after AuthenticationMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _current.set(request)
        try:
            return self.get_response(request)
        finally:
            reset_actor(token)
