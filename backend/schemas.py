from datetime import datetime
from typing import Annotated

from ninja import Schema
from pydantic import Field

# An id as the databases hold it (64-bit): a larger number in a body is a 422 of its own field,
# not an error inside the database driver (backend.api also answers one in a path with 422).
DB_ID_MAX = 2**63 - 1
DbId = Annotated[int, Field(ge=-(2**63), le=DB_ID_MAX)]


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
