"""The run log: one line per call, kept with the run's report and shown by
``exorun run`` (the host caps its size per run).

Use it rather than ``print``: ``print`` also reaches the log (stdout is
captured), but without a level, so an operator cannot filter it.
"""

from __future__ import annotations

from wit_world.imports import host as wit_host

__all__ = ["debug", "info", "warn", "error"]


def debug(message: str) -> None:
    """Detail for whoever debugs the automation."""
    wit_host.log(wit_host.Level.DEBUG, message)


def info(message: str) -> None:
    """What the automation is doing, for the operator."""
    wit_host.log(wit_host.Level.INFO, message)


def warn(message: str) -> None:
    """Something the operator should look at; the run goes on."""
    wit_host.log(wit_host.Level.WARN, message)


def error(message: str) -> None:
    """Something failed; usually followed by the run failing."""
    wit_host.log(wit_host.Level.ERROR, message)
