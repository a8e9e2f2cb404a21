"""Whether the run is a what-if run (``exorun run --what-if``)."""

from __future__ import annotations

from wit_world.imports import host as wit_host

__all__ = ["what_if"]


def what_if() -> bool:
    """True in a what-if run: every call that would change the tenant is
    recorded in a plan instead of being sent, and answers as if it had
    succeeded. Report such changes as planned, not done.
    """
    return bool(wit_host.what_if())
