"""Database sessions, loaded with one plain SQL statement.

Every request reads its session; Django's store builds that ``SELECT`` through the ORM
each time. Only the read differs from ``django.contrib.sessions.backends.db``: the same
table, the same expiry test, and saving, rotation (``cycle_key``) and logout (``flush``)
are Django's own.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connections, router
from django.utils import timezone


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self) -> Any:
        key = self.session_key
        if not key:
            self._session_key = None
            return None
        model = self.model
        with connections[router.db_for_read(model)].cursor() as cursor:
            cursor.execute(
                f"SELECT session_data FROM {model._meta.db_table}"
                " WHERE session_key = %s AND expire_date > %s",
                [key, timezone.now()],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return model(session_key=key, session_data=row[0])
