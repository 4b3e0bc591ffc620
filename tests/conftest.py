import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Files a test writes land in its own temporary directory, never in the data directory."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "core.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2's deliberate slowness is for production; tests create many users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_learning_caches():
    """Workers keep arrays and fitted strategies in memory by storage path; each test has its own storage."""
    from active_learning import artifacts, training

    artifacts.load.cache_clear()
    training._fitted_strategy.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit and failed-sign-in counters live in the shared cache: each test starts with none."""
    from django.core.cache import cache

    cache.clear()
