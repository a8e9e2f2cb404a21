"""Parameter values, written the way a PowerShell user thinks of them, and
their translation to the WIT ``value`` variant the host's policy gate checks.

=====================  =============================  ======================
Python                 PowerShell                     WIT ``value``
=====================  =============================  ======================
``None``               ``$null``                      ``null``
``True`` / ``False``   ``$true`` / ``$false``         ``boolean``
``int``                ``42``                         ``integer`` (s64)
``str``                ``"text"``                     ``text``
``list[str]``          ``"a","b"``                    ``texts``
``dict``               ``@{Add="a"; Remove="b"}``     ``table``
=====================  =============================  ======================

The translation is strict on purpose: the gate decides on typed values, so a
value that would have to be guessed at (a float, a date object, a nested
table) is refused here with a ``TypeError`` naming the parameter, instead of
being turned into text that may or may not match the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

from wit_world.imports import types as wit

__all__ = ["Leaf", "Param", "to_wit"]

Leaf: TypeAlias = None | bool | int | str | Sequence[str]
"""A value inside an Add/Remove edit: anything but another table."""

Param: TypeAlias = Leaf | Mapping[str, Leaf]
"""Any parameter value: a leaf, or a ``{"Add": ..., "Remove": ...}`` edit."""

_S64_MIN = -(2**63)
_S64_MAX = 2**63 - 1

_KINDS = (
    "None, bool, int, str, a list of str, "
    'or a dict edit such as {"Add": ["a@contoso.com"]}'
)


def to_wit(name: str, value: Param) -> wit.Value:
    """The WIT value of parameter ``-name``; ``TypeError`` if it has none."""
    if isinstance(value, Mapping):
        entries: list[tuple[str, wit.Leaf]] = []
        for key, leaf in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"parameter -{name}: a hashtable key must be a str such as "
                    f"'Add' or 'Remove', not {type(key).__name__}"
                )
            entries.append((key, _leaf(f"{name}[{key!r}]", leaf)))
        return wit.Value_Table(entries)
    leaf = _leaf(name, value)
    match leaf:
        case wit.Leaf_Null():
            return wit.Value_Null()
        case wit.Leaf_Boolean(value=b):
            return wit.Value_Boolean(b)
        case wit.Leaf_Integer(value=i):
            return wit.Value_Integer(i)
        case wit.Leaf_Text(value=s):
            return wit.Value_Text(s)
        case wit.Leaf_Texts(value=items):
            return wit.Value_Texts(items)
    raise AssertionError(f"unhandled leaf {leaf!r}")


def _leaf(name: str, value: object) -> wit.Leaf:
    # bool before int: True is an int in Python, but $true is not 1 to Exchange.
    if value is None:
        return wit.Leaf_Null()
    if isinstance(value, bool):
        return wit.Leaf_Boolean(value)
    if isinstance(value, int):
        if not _S64_MIN <= value <= _S64_MAX:
            raise OverflowError(
                f"parameter -{name}: {value} does not fit in a 64-bit integer"
            )
        return wit.Leaf_Integer(value)
    if isinstance(value, str):
        return wit.Leaf_Text(value)
    if isinstance(value, (list, tuple)):
        items = list(value)
        for item in items:
            if not isinstance(item, str):
                raise TypeError(
                    f"parameter -{name}: a list value may hold only str, "
                    f"not {type(item).__name__} ({item!r})"
                )
        return wit.Leaf_Texts(items)
    if isinstance(value, Mapping):
        raise TypeError(
            f"parameter -{name}: a hashtable cannot hold another hashtable"
        )
    raise TypeError(
        f"parameter -{name}: {type(value).__name__} is not a cmdlet parameter "
        f"value; use {_KINDS}"
    )
