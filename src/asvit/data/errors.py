"""The one exception type of the data module."""


class DataError(ValueError):
    """A bad data input: unknown source, missing or corrupt file, empty folder, unprepared directory."""
