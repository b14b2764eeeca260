from datetime import datetime

from ninja import Schema


class ErrorOut(Schema):
    message: str
    code: str
    extra: dict


class LoginIn(Schema):
    username: str
    password: str


class MeOut(Schema):
    username: str
    roles: list[str]


class OkOut(Schema):
    ok: bool = True


class AuditEventOut(Schema):
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    ip: str | None
    detail: dict
