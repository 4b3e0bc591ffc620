import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import UserFactory
from tests.integration.conftest import client_for

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "SECRET_KEY": "k" * 20 + "-production-secret-from-the-environment-0123456789",
    "ALLOWED_HOSTS": "loupe.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://loupe.example.com",
    "HTTPS": "true",
    "TRUST_PROXY_HEADERS": "true",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE is a test-only switch that a real deployment never has.
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**inherited, **env}, capture_output=True, text=True
    )


def test_deploy_check_passes_with_production_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_flags_an_install_without_https():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION_ENV, "HTTPS": "false"})
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stderr


def test_openapi_schema_validates_without_warnings():
    result = manage("spectacular", "--validate", "--fail-on-warn", "--file", os.devnull, env={})
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_api_docs_are_served_from_our_own_static_files():
    response = client_for(UserFactory()).get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
