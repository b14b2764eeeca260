"""Run the one-invitation race in a separate process against a SQLite *file* database.

pytest-django's SQLite test database is in memory with a shared cache, where concurrent
writers get "database table is locked" instead of waiting; the real server uses a WAL file
with IMMEDIATE transactions, so the SQLite race is checked here, the way the server runs.
Usage: python tests/checkin/race_script.py THREADS [same-nonce]; prints one JSON line.
"""

import json
import os
import sys
import threading
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402

from backend.models import FeedEntry  # noqa: E402
from checkin.models import Scan  # noqa: E402
from checkin.services import ScanRequest, checkin_redeem  # noqa: E402
from events.models import Invitation  # noqa: E402
from tests import factories as f  # noqa: E402


def main() -> None:
    threads = int(sys.argv[1])
    same_nonce = uuid.uuid4().hex if len(sys.argv) > 2 else None
    market = f.market(f.district(f"Race {uuid.uuid4().hex[:6]}"), state="open")
    invitation = f.invitation(market, f.client(market.district, number=f"R{uuid.uuid4().hex[:12]}"))
    host = f.user(f"racer-{uuid.uuid4().hex[:6]}", "host")
    connection.close()
    barrier = threading.Barrier(threads)
    results, lock = [], threading.Lock()

    def worker():
        try:
            barrier.wait(timeout=10)
            answer = checkin_redeem(market=market, user=host, request=ScanRequest(
                market_id=market.pk, nonce=same_nonce or uuid.uuid4().hex, token=invitation.token))
        except Exception as exc:
            answer = {"exception": repr(exc)}
        finally:
            connection.close()
        with lock:
            results.append(answer)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    print(json.dumps({
        "results": results,
        "state": Invitation.objects.get(pk=invitation.pk).state,
        "entries": FeedEntry.objects.filter(market_id=market.pk, kind="checkin.created").count(),
        "scans": Scan.objects.filter(market=market).count(),
    }))


if __name__ == "__main__":
    main()
