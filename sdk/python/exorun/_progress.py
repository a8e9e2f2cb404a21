"""Progress reports: the CLI shows the latest as a bar with rate and ETA."""

from __future__ import annotations

from wit_world.imports import host as wit_host

__all__ = ["progress"]


def progress(done: int, total: int | None = None) -> None:
    """Reports ``done`` items of ``total`` (``None`` when not yet known).

    Cheap enough to call once per item; only the latest report is kept.
    """
    if done < 0 or (total is not None and total < 0):
        raise ValueError(f"progress cannot be negative: done={done}, total={total}")
    wit_host.progress(done, total)
