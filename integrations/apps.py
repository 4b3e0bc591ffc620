from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    """Webhooks: a project's events pushed to the URLs its managers enter."""

    name = "integrations"
    default_auto_field = "django.db.models.BigAutoField"
