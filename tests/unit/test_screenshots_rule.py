"""The pictures in docs/screenshots/ are written by `make screenshots` only, never by a normal test run."""

import re
from pathlib import Path

from tests.e2e.conftest import save_screenshot

ROOT = Path(__file__).resolve().parents[2]


class Camera:
    """Stands in for a browser page: records where pictures would be written."""

    def __init__(self):
        self.paths: list[str] = []

    def screenshot(self, path: str, **options) -> None:
        self.paths.append(path)
        Path(path).write_bytes(b"png")


def test_browser_tests_take_pictures_only_through_the_helper():
    direct = [
        f"{path.name}:{number}"
        for path in sorted((ROOT / "tests" / "e2e").glob("test_*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\.screenshot\(|docs/screenshots|\"screenshots\"", line)
    ]
    assert direct == []


def test_the_helper_writes_nothing_in_a_normal_test_run(monkeypatch):
    monkeypatch.delenv("LOUPE_SCREENSHOT_DIR", raising=False)
    camera = Camera()

    save_screenshot(camera, "labeling-image.png")

    assert camera.paths == []


def test_the_helper_writes_into_the_folder_make_screenshots_names(monkeypatch, tmp_path):
    monkeypatch.setenv("LOUPE_SCREENSHOT_DIR", str(tmp_path / "shots"))
    camera = Camera()

    save_screenshot(camera, "labeling-image.png")

    assert camera.paths == [str(tmp_path / "shots" / "labeling-image.png")]
    assert 'LOUPE_SCREENSHOT_DIR="$PWD/docs/screenshots"' in (ROOT / "scripts" / "screenshots.sh").read_text()
