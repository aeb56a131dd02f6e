"""Errors of the embedded-services launcher: one line each, saying what and where."""


class ServiceError(RuntimeError):
    """An embedded server could not be started, reached or stopped."""


class PortInUseError(ServiceError):
    """The port a server listens on is taken by another program."""


class DataDirectoryError(ServiceError):
    """A data directory belongs to another version, or is not a data directory at all."""
