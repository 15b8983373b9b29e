"""Exception hierarchy. Every error a user can cause is a `PerfsimError`.

The CLI turns a `PerfsimError` into one line ``ErrorType: message`` and exit status 2;
anything else is an internal failure (exit status 1).
"""

from __future__ import annotations


class PerfsimError(Exception):
    """Base of all errors caused by bad input."""


class SpecError(PerfsimError):
    """A hardware, workload or sweep file (or option) is malformed or inconsistent."""


class WorkloadError(PerfsimError):
    """A model name, config or scenario cannot be turned into a workload."""


class TraceError(PerfsimError):
    """Tracing a model failed; the message names the module / op it failed at."""


class UnsupportedPrecisionError(PerfsimError):
    """The hardware cannot execute the requested precision."""
