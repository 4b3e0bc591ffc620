"""The demo projects: scikit-learn's bundled digits rendered as PNG files, and its bundled wine table."""

import hashlib
import io

import numpy as np
from django.core.files.base import ContentFile
from django.db import transaction
from PIL import Image
from sklearn.datasets import load_digits, load_wine

from annotation import schemas, services
from annotation.models import DataKind, Item, Project
from core.models import User

DIGITS_PROJECT = "Demo: handwritten digits"
WINE_PROJECT = "Demo: wine cultivars"
DIGIT_SIZE = 64  # the 8x8 originals, scaled up so people can see them


def demo_load(*, owner: User) -> list[Project]:
    """Create each demo project that does not exist yet; existing ones are left untouched."""
    return [
        loader(owner)
        for name, loader in ((DIGITS_PROJECT, _digits), (WINE_PROJECT, _wine))
        if not Project.objects.filter(name=name).exists()
    ]


def digit_png(pixels: np.ndarray) -> bytes:
    """(8, 8) array of 0..16 ink values -> PNG bytes, dark ink on white, DIGIT_SIZE pixels square."""
    gray = (255 - pixels.astype(np.float64) * (255 / 16)).round().astype(np.uint8)
    image = Image.fromarray(gray, mode="L").resize((DIGIT_SIZE, DIGIT_SIZE), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@transaction.atomic
def _digits(owner: User) -> Project:
    project = services.project_create(
        creator=owner,
        spec={
            "name": DIGITS_PROJECT,
            "data_kind": DataKind.IMAGE,
            "instructions": "Which digit is written? Press its number key.",
            "labels": [{"name": str(d), "hotkey": str(d)} for d in range(10)],
        },
    )
    digits = load_digits()
    for index, pixels in enumerate(digits.images):
        png = digit_png(pixels)
        item = Item(
            project=project,
            external_id=f"digit-{index:04d}",
            width=DIGIT_SIZE,
            height=DIGIT_SIZE,
            content_hash=hashlib.sha256(png).hexdigest(),
        )
        item.image.save(f"demo/digits/{index:04d}.png", ContentFile(png), save=False)
        item.save()
    return project


@transaction.atomic
def _wine(owner: User) -> Project:
    wine = load_wine()
    columns = list(wine.feature_names)
    project = services.project_create(
        creator=owner,
        spec={
            "name": WINE_PROJECT,
            "data_kind": DataKind.TABULAR,
            "instructions": "Which of three cultivars does this wine come from?",
            "labels": [
                {"name": name.replace("_", " "), "hotkey": str(i + 1)} for i, name in enumerate(wine.target_names)
            ],
            "shown_columns": columns,
            "feature_columns": columns,
        },
    )
    project.columns = [{"name": name, "type": "numeric"} for name in columns]  # what an import would infer
    project.save(update_fields=["columns"])
    Item.objects.bulk_create(
        Item(
            project=project,
            external_id=f"wine-{index:03d}",
            data=schemas.TabularRecord(dict(zip(columns, row.tolist(), strict=True))).model_dump(),
        )
        for index, row in enumerate(wine.data)
    )
    return project
