"""Errors of the embedded-services launcher: one line each, saying what and where."""

from project.errors import TollgateError


class ServiceError(TollgateError):
    """An embedded server could not be started, reached or stopped."""


class PortInUseError(ServiceError):
    """The port a server listens on is taken by another program."""


class DataDirectoryError(ServiceError):
    """A data directory belongs to another version, or is not a data directory at all."""


class ServicesStopped(ServiceError):
    """A process needs the embedded services, which are not running; only a few commands start them."""
