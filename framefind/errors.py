"""The one exception type a user sees: its message is printed as a single line, never a traceback."""


class FrameFindError(Exception):
    """An error caused by input or environment, with a message fit to show the user as it is."""


class MediaError(FrameFindError):
    """One file could not be read; indexing records it and goes on with the rest."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class ClientError(FrameFindError):
    """A request the server cannot serve as asked (bad input, no such item): answered 4xx with this message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
