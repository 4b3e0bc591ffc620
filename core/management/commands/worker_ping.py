import time

from django.core.management.base import BaseCommand, CommandError

from core.services import broker_probe_send


class Command(BaseCommand):
    help = "Send a probe through the broker and wait until a worker has handled it (exit 1 on timeout)."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")

    def handle(self, *args, timeout, **options):
        probe = broker_probe_send()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe.refresh_from_db()
            if probe.received_at is not None:
                seconds = (probe.received_at - probe.sent_at).total_seconds()
                self.stdout.write(f"Worker {probe.received_by} answered in {seconds:.2f} s")
                return
            time.sleep(0.2)
        raise CommandError(f"No worker handled the probe within {timeout:g} s: is a worker running on this broker?")
