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
