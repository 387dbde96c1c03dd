"""The one exception type a user sees: its message is printed as a single line, never a traceback."""

import re

# FAISS prefixes its messages with where in its C++ sources they were raised
_CPP_LOCATION = re.compile(r"^Error in .*? at \S+:\d+: (Error: )?")
REASON_MAX = 300  # characters: a server's stack dump must not become the user's line


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


def reason(exc: BaseException) -> str:
    """Why a library call failed, fit to follow a path and a colon in a one-line error.

    The OS's or FFmpeg's ``strerror`` when there is one (PyAV appends the path, which the caller already
    names), else the exception's ``message`` (pymilvus) or text, on one line, without FAISS's C++
    location, cut at ``REASON_MAX`` characters; the exception's type when it says nothing.
    """
    text = getattr(exc, "strerror", None) or getattr(exc, "message", None) or str(exc)
    text = _CPP_LOCATION.sub("", " ".join(str(text).split()))
    return text[:REASON_MAX] or type(exc).__name__
