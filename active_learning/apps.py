from django.apps import AppConfig


class ActiveLearningConfig(AppConfig):
    """Autoencoder embeddings, scoring and ranking."""

    name = "active_learning"
    default_auto_field = "django.db.models.BigAutoField"
