import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

from core.models import User


class Command(BaseCommand):
    help = (
        "Create the first admin if no superuser exists. Credentials come from LOUPE_ADMIN_USERNAME / "
        "LOUPE_ADMIN_PASSWORD (or LOUPE_ADMIN_PASSWORD_FILE); a generated password is printed once, never stored."
    )

    def handle(self, *args, **options):
        import environ

        env = environ.FileAwareEnv()
        with transaction.atomic():
            existing = User.objects.filter(is_superuser=True).order_by("id").first()
            if existing is not None:
                self.stdout.write(
                    f"Admin exists: {existing.username} (reset with: manage.py changepassword {existing.username})"
                )
                return
            username = env.str("LOUPE_ADMIN_USERNAME", default="admin")
            password = env.str("LOUPE_ADMIN_PASSWORD", default="")
            generated = not password
            password = password or secrets.token_urlsafe(12)
            User.objects.create_superuser(
                username=username, email=env.str("LOUPE_ADMIN_EMAIL", default=""), password=password
            )
        self.stdout.write(f"Admin created: {username}")
        if generated:
            self.stdout.write(f"Generated password (shown this once): {password}")
