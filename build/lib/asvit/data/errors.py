"""The one exception type of the data module."""

from ..errors import AsvitError


class DataError(AsvitError):
    """A bad data input: unknown source, missing or corrupt file, empty folder, unprepared directory."""
