from django.core.management.base import BaseCommand, CommandError

from active_learning.services import training_run_request
from annotation.demo import demo_load
from core.models import User


class Command(BaseCommand):
    help = "Create the demo projects (digits images, wine table) if they do not exist yet. Safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("--owner", help="username of the demo projects' manager (default: the first superuser)")

    def handle(self, *args, owner=None, **options):
        users = User.objects.filter(username=owner) if owner else User.objects.filter(is_superuser=True)
        user = users.order_by("id").first()
        if user is None:
            raise CommandError("No owner for the demo: create an admin first (manage.py ensure_admin).")
        created = demo_load(owner=user)
        for project in created:
            self.stdout.write(f"Demo project created: {project.name} ({project.items.count()} items)")
            training_run_request(project=project, reason="import", quiet=True)  # the worker embeds and ranks it
        if not created:
            self.stdout.write("Demo projects already present; nothing changed.")
