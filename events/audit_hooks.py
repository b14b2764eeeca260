"""Every change to clients, invitations, leads, agreements and exemptions lands in the audit log.

Row-by-row saves are caught by model signals; bulk writes (bulk_create, queryset.update) record
their own audit event in the service that makes them.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from backend.audit import audit_record

AUDITED = ("Client", "Invitation", "Lead", "Agreement", "Exemption", "ClientStatement")


def _saved(sender, instance, created, **kwargs):
    audit_record(action="create" if created else "update", object_type=sender.__name__.lower(),
                 object_id=instance.pk, detail=_detail(instance))


def _deleted(sender, instance, **kwargs):
    audit_record(action="delete", object_type=sender.__name__.lower(), object_id=instance.pk)


def _detail(instance) -> dict:
    # Identifiers and states only: the audit log must not become a second copy of the personal data.
    detail = {}
    for field in ("state", "market_id", "client_id", "version", "category", "kind"):
        if hasattr(instance, field):
            detail[field] = getattr(instance, field)
    return detail


def connect() -> None:
    from django.apps import apps

    for name in AUDITED:
        model = apps.get_model("events", name)
        post_save.connect(_saved, sender=model, dispatch_uid=f"audit-save-{name}")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"audit-delete-{name}")
