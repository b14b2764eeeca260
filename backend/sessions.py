"""Django's database session store, with the one hot read written once (backend.rawsql).

Every API request loads its session; the ORM's `Session.objects.get(...)` spent most of that
lookup compiling the query. Same table, same semantics (an expired or unknown key is an empty
session), same writes: only `_get_session_from_db` differs. SESSION_ENGINE = "backend.sessions".
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.utils import timezone

from backend import rawsql


@rawsql.statement
def _load_sql() -> str:
    q = rawsql.q
    return (f"SELECT {q('session_data')} FROM {rawsql.table(db.SessionStore.get_model_class())} "
            f"WHERE {q('session_key')} = %s AND {q('expire_date')} > %s")


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        model = self.model
        _n, row = rawsql.execute(_load_sql(), [self.session_key, rawsql.prep(model, "expire_date", timezone.now())])
        if row is None:
            self._session_key = None
            return None
        return model(session_key=self.session_key, session_data=row[0])
