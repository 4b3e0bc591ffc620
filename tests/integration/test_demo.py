import io

import numpy as np
import pytest
from django.core.management import call_command
from PIL import Image

from annotation.demo import DIGIT_SIZE, DIGITS_PROJECT, WINE_PROJECT, digit_png
from annotation.models import Item, Project
from tests.factories import UserFactory
from tests.integration.conftest import client_for

pytestmark = pytest.mark.django_db


def test_digit_png_draws_dark_ink_on_white():
    pixels = np.zeros((8, 8))
    pixels[2:6, 3] = 16
    image = Image.open(io.BytesIO(digit_png(pixels)))
    assert image.format == "PNG"
    assert image.size == (DIGIT_SIZE, DIGIT_SIZE)
    array = np.asarray(image)
    assert array[0, 0] == 255
    assert array[DIGIT_SIZE // 2, 3 * DIGIT_SIZE // 8 + 1] == 0


def test_load_demo_creates_real_projects_once(capsys):
    admin = UserFactory(is_superuser=True, is_staff=True)
    call_command("load_demo")
    call_command("load_demo")  # a second run changes nothing

    digits, wine = Project.objects.get(name=DIGITS_PROJECT), Project.objects.get(name=WINE_PROJECT)
    assert digits.items.count() == 1797
    assert wine.items.count() == 178
    assert digits.labels.count() == 10
    assert wine.labels.count() == 3
    assert digits.memberships.get().user == admin
    record = wine.items.first().data
    assert isinstance(record["alcohol"], float)
    assert set(wine.feature_columns) == set(record)
    assert [c["name"] for c in wine.columns] == wine.feature_columns
    assert "already present" in capsys.readouterr().out

    item = digits.items.order_by("id").first()
    response = client_for(admin).get(f"/api/v1/projects/{digits.id}/items/{item.id}/image/")
    assert response.status_code == 200
    image = Image.open(io.BytesIO(b"".join(response.streaming_content)))
    image.verify()
    assert Item.objects.filter(project=digits).values("content_hash").distinct().count() <= 1797
