from django.conf import settings
from django.core.management.base import BaseCommand

from events.retention import retention_run


class Command(BaseCommand):
    help = "Pseudonymise clients whose last market ended more than VM_RETENTION_DAYS ago (safe to run daily)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None,
                            help=f"Override the retention period (default {settings.VM_RETENTION_DAYS} days)")
        parser.add_argument("--dry-run", action="store_true", help="Only count the clients that are due")

    def handle(self, *args, days, dry_run, **options):
        def progress(done: int, total: int) -> None:
            if done == total or done % 100 == 0:
                self.stdout.write(f"  {done}/{total} clients pseudonymised")

        count = retention_run(days=days, dry_run=dry_run, progress=progress)
        verb = "due for pseudonymisation" if dry_run else "pseudonymised"
        self.stdout.write(self.style.SUCCESS(f"{count} clients {verb}."))
