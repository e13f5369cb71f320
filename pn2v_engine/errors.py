"""Errors a user can act on.

Every error the engine raises for bad input, resources or files is a
:class:`PN2VError`: it carries a one-line ``message`` (what is wrong) and a
``hint`` (what to do). The CLI prints both and exits with ``exit_code``; the
app shows them in a dialog. Anything else escaping the engine is a bug.
"""

from __future__ import annotations


class PN2VError(Exception):
    """Base class for errors with a message for the user and a hint."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class InvalidImageError(PN2VError):
    """A file is not a readable single-channel image, or its pixels are unusable."""


class CalibrationError(PN2VError):
    """The calibration data cannot give a noise model (empty, one frame, mismatched)."""


class NoiseModelError(PN2VError):
    """A noise model file is unreadable, or data lie outside the calibrated range."""


class ProjectFileError(PN2VError):
    """A project file is corrupt, unsafe, or from a newer version of PN2V Studio."""


class OutputError(PN2VError):
    """Results cannot be written (folder not writable, disk full, would overwrite input)."""


class ResourceError(PN2VError):
    """The computation ran out of memory."""

    exit_code = 3


class ConfigError(PN2VError):
    """Settings are invalid."""
