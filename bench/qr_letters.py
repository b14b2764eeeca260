"""Benchmark: QR codes, invitation issuing and letter PDFs (issue 2; targets from issue 8).

    .venv/bin/python bench/qr_letters.py                      # defaults: 3,000 QR, 20,000 issued, 5,000 letters
    .venv/bin/python bench/qr_letters.py --letters 20000      # the 20,000-page memory target

Uses its own SQLite database in a temporary directory unless DATABASE_URL is set (then that
database must be empty of bench data; a PostgreSQL URL works). Letter generation runs in a
fresh subprocess so that its peak RSS (ru_maxrss) is the letters' own, next to the RSS of an
idle Django process in the same subprocess before the run; a second subprocess repeats the run
under tracemalloc for the Python-heap peak. Prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
    import django

    django.setup()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- child: letters -------------------------------------------------------------------------


def child_letters(market_id: int, trace: bool) -> None:
    setup_django()
    from events import letters
    from events.models import Market

    market = Market.objects.get(pk=market_id)
    letters.fonts()
    baseline = rss_mb()
    if trace:
        import tracemalloc

        tracemalloc.start()
    started, cpu = time.perf_counter(), time.process_time()
    pdf, pages = letters.letters_pdf_file(letters.market_letters_queryset(market).iterator(chunk_size=500))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    pdf.seek(0, 2)
    size = pdf.tell()
    result = {"pages": pages, "seconds": elapsed, "cpu_seconds": cpu, "bytes": size, "baseline_rss_mb": baseline, "peak_rss_mb": rss_mb()}
    if trace:
        result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1024 / 1024
    print(json.dumps(result))


# --- parent ---------------------------------------------------------------------------------


def bench_qr(n: int) -> dict:
    from events import qr
    from events.codes import new_token

    tokens = [new_token() for _ in range(n)]
    qr.invitation_png(tokens[0])  # warm up (version cache, PIL plugins)
    t, c = time.perf_counter(), time.process_time()
    for token in tokens:
        qr.invitation_png(token)
    png, png_cpu = n / (time.perf_counter() - t), n / (time.process_time() - c)
    t, c = time.perf_counter(), time.process_time()
    for token in tokens:
        qr.invitation_svg(token)
    svg, svg_cpu = n / (time.perf_counter() - t), n / (time.process_time() - c)

    # The naive way, for comparison: fit=True (version search) + all masks + module-by-module drawing.
    import io

    import qrcode

    from events.codes import invitation_url

    m = min(n, 300)
    c = time.process_time()
    for token in tokens[:m]:
        code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
        code.add_data(invitation_url(token))
        code.make(fit=True)
        code.make_image().save(io.BytesIO())
    naive_cpu = m / (time.process_time() - c)
    return {"png": png, "png_cpu": png_cpu, "svg": svg, "svg_cpu": svg_cpu, "naive_png_cpu": naive_cpu}


def make_data(clients: int):
    import datetime as dt

    from django.utils import timezone

    from events import services
    from events.models import Client, District

    district = District.objects.create(name=f"Bench {time.time_ns()}")
    start = timezone.now() + dt.timedelta(days=10)
    market = services.market_create(district=district, name="Bench markt", venue="Sporthal Bench",
                                    address="Benchstraat 1, 3000 AA Rotterdam", starts_at=start,
                                    ends_at=start + dt.timedelta(hours=6))
    slot = services.timeslot_create(market=market, starts_at=start, ends_at=start + dt.timedelta(hours=2))
    names = [("Ayşe", "Şahin", "tr"), ("Jan", "de Vries", "nl"), ("Maria", "Silva", "pt"),
             ("Noor", "El Amrani", "ar"), ("Sam", "Brown", "en")]
    prefix = district.pk
    Client.objects.bulk_create(
        [Client(client_number=f"B{prefix}-{i:06d}", given_name=names[i % 5][0], family_name=names[i % 5][1],
                language=names[i % 5][2], district=district) for i in range(clients)], batch_size=2000)
    ids = list(Client.objects.filter(district=district).values_list("pk", flat=True))
    return market, slot, ids


def bench_issue(n: int) -> dict:
    from events import services

    market, slot, ids = make_data(n)
    t, c = time.perf_counter(), time.process_time()
    created = services.invitation_issue_bulk(market=market, clients=ids, slot=slot)
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    again = services.invitation_issue_bulk(market=market, clients=ids, slot=slot)
    repeat = time.perf_counter() - t
    return {"issued": len(created), "seconds": seconds, "cpu_seconds": cpu, "repeat_seconds": repeat, "repeat_created": len(again)}


def letters_market(n: int) -> int:
    from events import services

    market, slot, ids = make_data(n)
    services.invitation_issue_bulk(market=market, clients=ids, slot=slot)
    return market.pk


def run_child(market_id: int, trace: bool) -> dict:
    cmd = [sys.executable, __file__, "--child-letters", str(market_id)] + (["--trace"] if trace else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy(), cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qr", type=int, default=3000, help="QR codes to render per format")
    parser.add_argument("--issue", type=int, default=20000, help="invitations to issue in one bulk call")
    parser.add_argument("--letters", type=int, default=5000, help="letters in the batch PDF")
    parser.add_argument("--no-trace", action="store_true", help="skip the (slow) tracemalloc run")
    parser.add_argument("--child-letters", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_letters:
        child_letters(args.child_letters, args.trace)
        return

    tmp = None
    if not os.environ.get("DATABASE_URL"):
        tmp = tempfile.TemporaryDirectory(prefix="vm-bench-")
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp.name}/bench.sqlite3"
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    setup_django()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    engine = "PostgreSQL" if settings.IS_POSTGRES else "SQLite"

    rows = []
    if args.qr:
        q = bench_qr(args.qr)
        rows += [("QR PNG (fixed version + mask), per CPU-second", f"{q['png_cpu']:,.0f} codes/s "
                  f"(wall {q['png']:,.0f})", ">= 300 codes/s per core"),
                 ("QR SVG, per CPU-second", f"{q['svg_cpu']:,.0f} codes/s (wall {q['svg']:,.0f})", ""),
                 ("QR PNG the naive way (fit=True, best mask)", f"{q['naive_png_cpu']:,.0f} codes/s", "(comparison)")]
    if args.issue:
        i = bench_issue(args.issue)
        rows += [(f"Issue {i['issued']:,} invitations ({engine})",
                  f"{i['seconds']:.1f} s (Python CPU {i['cpu_seconds']:.1f} s)", "<= 20 s"),
                 ("Issue the same again (no-op)", f"{i['repeat_seconds']:.2f} s, {i['repeat_created']} created", "")]
    if args.letters:
        market_id = letters_market(args.letters)
        r = run_child(market_id, trace=False)
        rows += [(f"Letters PDF, {r['pages']:,} pages", f"{r['pages'] / r['seconds']:,.0f} pages/s wall, "
                                                        f"{r['pages'] / r['cpu_seconds']:,.0f} per CPU-s "
                                                        f"({r['seconds']:.1f} s, {r['bytes'] / 1e6:.1f} MB)",
                  ">= 100 pages/s"),
                 ("  peak RSS of the process (idle Django before)",
                  f"{r['peak_rss_mb']:.0f} MB ({r['baseline_rss_mb']:.0f} MB)",
                  "<= 300 MB at 20,000 pages")]
        if not args.no_trace:
            t = run_child(market_id, trace=True)
            rows.append(("  Python heap peak (tracemalloc)", f"{t['tracemalloc_peak_mb']:.0f} MB", ""))

    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'measure':<{width}}  {'result':<{vwidth}}  target")
    print(f"{'-' * width}  {'-' * vwidth}  ------")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:<{vwidth}}  {target}")
    load = os.getloadavg()[0]
    print(f"\n{engine}; {os.cpu_count()} cores visible, load average {load:.1f} at the end; "
          f"python {sys.version.split()[0]}. Per-CPU-second rates are what one core does when it is not shared.")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
