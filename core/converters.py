"""URL converters."""


class IdConverter:
    """A row id in a path: at most 18 digits, so it always fits a BIGINT (a longer one is simply no match, a 404,
    where `<int:>` would hand SQLite an integer it raises OverflowError on)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
