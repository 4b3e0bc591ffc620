"""A rendered image set with known classes, made on the spot (no download): letters drawn in the fonts at hand,
each under a random affine transform, with pixel noise. For benchmarks and tests of the image path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Italic.ttf",
)


def _fonts(size: int) -> list[ImageFont.FreeTypeFont | ImageFont.ImageFont]:
    """Pillow's own scalable font (always there) and any of FONT_FILES this machine has."""
    fonts: list[ImageFont.FreeTypeFont | ImageFont.ImageFont] = [ImageFont.load_default(size=size)]
    fonts += [ImageFont.truetype(path, size) for path in FONT_FILES if Path(path).exists()]
    return fonts


def render_glyphs(
    n_per_class: int = 100,
    letters: str = "ABCDEFGHIJ",
    size: int = 32,
    noise: float = 0.1,
    random_state: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """-> (images (n, size, size) uint8, labels (n,) int: the letter's position in ``letters``).

    Each image is one letter in a font drawn at random, rotated up to 20 degrees, scaled by 0.7-1.1, sheared and
    shifted a little, with Gaussian pixel noise of std ``noise`` (in units of full intensity)."""
    rng = np.random.default_rng(random_state)
    fonts = _fonts(int(size * 0.7))
    images, labels = [], []
    for label, letter in enumerate(letters):
        for _ in range(n_per_class):
            canvas = Image.new("L", (size * 2, size * 2), 0)
            font = fonts[int(rng.integers(len(fonts)))]
            ImageDraw.Draw(canvas).text((size, size), letter, fill=255, font=font, anchor="mm")
            angle = np.deg2rad(rng.uniform(-20, 20))
            scale = rng.uniform(0.7, 1.1)
            shear = rng.uniform(-0.2, 0.2)
            a, b = np.cos(angle) / scale, np.sin(angle) / scale + shear
            c, d = -np.sin(angle) / scale, np.cos(angle) / scale
            dx, dy = rng.uniform(-3, 3, size=2)
            cx = cy = size  # transform about the canvas centre
            matrix = (a, b, cx - a * cx - b * cy + dx, c, d, cy - c * cx - d * cy + dy)
            warped = canvas.transform(canvas.size, Image.Transform.AFFINE, matrix, Image.Resampling.BILINEAR)
            small = warped.crop((size // 2, size // 2, size // 2 + size, size // 2 + size))
            pixels = np.asarray(small, dtype=np.float64) / 255.0 + rng.normal(0.0, noise, (size, size))
            images.append((np.clip(pixels, 0.0, 1.0) * 255).astype(np.uint8))
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64)
