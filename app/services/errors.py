"""Errors a person can act on; the CLI prints them without a traceback."""

from __future__ import annotations


class KdmonError(Exception):
    """Base class for errors with a message meant for the engineer using kdmon."""


class NotFoundError(KdmonError):
    pass


class PermissionDeniedError(KdmonError):
    pass


class ValidationError(KdmonError):
    pass
