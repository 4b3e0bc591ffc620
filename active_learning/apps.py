from django.apps import AppConfig


class ActiveLearningConfig(AppConfig):
    """Autoencoder embeddings, scoring and ranking (the engine and its Celery tasks come with issues #5 and #6)."""

    name = "active_learning"
    default_auto_field = "django.db.models.BigAutoField"
