from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Users, API tokens, worker heartbeats and health: what every other app stands on."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"
