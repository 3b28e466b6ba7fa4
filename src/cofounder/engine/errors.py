"""Engine errors; faces map them to exit codes and HTTP statuses."""


class EngineError(Exception):
    """A session could not be created, run or changed."""


class BadInputError(EngineError):
    """The request itself is wrong (a bad model spec, an unknown session): exit code 2."""


class SessionBusyError(EngineError):
    """Another live process is running this session."""


class SessionFinishedError(EngineError):
    """The session already has a terminal outcome."""


class ConfigurationError(BadInputError):
    """Settings point at something unusable (a bad database URL, a data dir that is a file)."""


class QueueFullError(EngineError):
    """Too many builds wait already: refused, not dropped; retry after `retry_after_s`."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class DailyCapError(EngineError):
    """The owner started as many builds today as their tier allows."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ConflictError(EngineError):
    """The request clashes with the current state (a build already active, a question no
    longer open): HTTP 409."""


class NotFoundError(BadInputError):
    """No such object, or not the caller's: HTTP 404 (never reveal another owner's)."""
