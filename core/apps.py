from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Users, API tokens, worker heartbeats and health: what every other app stands on."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.urls import register_converter

        from core.api import schema  # noqa: F401  (registers the OpenAPI extension for our token auth)
        from core.converters import IdConverter

        register_converter(IdConverter, "id")  # before any URLconf is read: they use <id:...> for row ids
