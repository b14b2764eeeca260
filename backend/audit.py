"""The audit log: one function to record, and the request context that says who and from where.

`AuditContextMiddleware` puts the current actor and IP in a context variable, so services and
model signals can record an event without having the request passed down to them.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from backend.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    label: str
    ip: str | None


_current: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("vm_audit_actor", default=None)


def set_actor(label: str, ip: str | None = None) -> contextvars.Token:
    return _current.set(Actor(label=label, ip=ip))


def reset_actor(token: contextvars.Token) -> None:
    _current.reset(token)


def current_actor() -> Actor:
    return _current.get() or Actor(label="system", ip=None)


def audit_record(*, action: str, object_type: str, object_id: Any = "", detail: dict | None = None,
                 actor: str | None = None) -> AuditEvent:
    who = current_actor()
    return AuditEvent.objects.create(
        at=timezone.now(), actor=(actor or who.label)[:150], action=action, object_type=object_type,
        object_id=str(object_id)[:64], ip=who.ip, detail=detail or {})


def _request_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class AuditContextMiddleware:
    """Sets the audit actor for the request (after AuthenticationMiddleware)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        label = user.get_username() if user is not None and user.is_authenticated else "anonymous"
        token = set_actor(label, _request_ip(request))
        try:
            return self.get_response(request)
        finally:
            reset_actor(token)
