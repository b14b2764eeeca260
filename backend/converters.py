"""URL converters. `<id:name>` is a database id in a page's path: at most 18 digits, so a number
the database cannot hold (2**63 and up) is a path that does not exist (404), never an error
inside the database driver. The API answers such a number with 422 (backend.api)."""


class IdConverter:
    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(int(value))
