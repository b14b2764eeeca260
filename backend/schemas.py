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
