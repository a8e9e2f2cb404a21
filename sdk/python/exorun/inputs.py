"""Operator-supplied inputs (``--input name=value``), typed as the manifest's
``[inputs.NAME]`` tables declare them.

=========================  ======================  =====================
manifest ``type``          ``get`` returns         typed accessor
=========================  ======================  =====================
``string``                 ``str``                 :func:`text`
``integer``                ``int``                 :func:`integer`
``boolean``                ``bool``                :func:`boolean`
``list`` (comma-separated) ``list[str]``           :func:`texts`
=========================  ======================  =====================

The host has already checked every input against its declared type, applied
defaults and refused a run with a missing required input, so a typed accessor
fails only when the automation and its manifest disagree, which is a bug
worth stopping the run for (:class:`InputTypeError`).
"""

from __future__ import annotations

from typing import TypeAlias, overload

from wit_world.imports import inputs as wit_inputs

__all__ = ["InputValue", "InputTypeError", "get", "text", "integer", "boolean", "texts"]

InputValue: TypeAlias = str | int | bool | list[str]

class InputTypeError(TypeError):
    """The automation reads an input as a type its manifest does not declare."""


def get(name: str) -> InputValue | None:
    """The input's value (or its default); ``None`` when an optional input
    was not given, and always for a name the manifest does not declare."""
    match wit_inputs.get(name):
        case None:
            return None
        case wit_inputs.InputValue_Text(value=s):
            return s
        case wit_inputs.InputValue_Integer(value=i):
            return i
        case wit_inputs.InputValue_Boolean(value=b):
            return b
        case wit_inputs.InputValue_Texts(value=items):
            return list(items)
        case other:
            raise InputTypeError(f"input '{name}' has a type this SDK does not know: {other!r}")


def _typed(name: str, expected: type, type_name: str, default: object) -> object:
    value = get(name)
    if value is None:
        return default
    # bool is an int in Python; an integer input must not accept a boolean.
    if type(value) is not expected:
        raise InputTypeError(
            f"input '{name}' is read as {type_name}, but the manifest gives it as "
            f"{_manifest_type(value)}; change the [inputs.{name}] type or the accessor"
        )
    return value


def _manifest_type(value: InputValue) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):
        return "string"
    return "list"


@overload
def text(name: str) -> str | None: ...
@overload
def text(name: str, default: str) -> str: ...
def text(name: str, default: str | None = None) -> str | None:
    """A ``type = "string"`` input, or ``default`` when it was not given."""
    return _typed(name, str, "string", default)  # type: ignore[return-value]


@overload
def integer(name: str) -> int | None: ...
@overload
def integer(name: str, default: int) -> int: ...
def integer(name: str, default: int | None = None) -> int | None:
    """A ``type = "integer"`` input, or ``default`` when it was not given."""
    return _typed(name, int, "integer", default)  # type: ignore[return-value]


@overload
def boolean(name: str) -> bool | None: ...
@overload
def boolean(name: str, default: bool) -> bool: ...
def boolean(name: str, default: bool | None = None) -> bool | None:
    """A ``type = "boolean"`` input, or ``default`` when it was not given."""
    return _typed(name, bool, "boolean", default)  # type: ignore[return-value]


@overload
def texts(name: str) -> list[str] | None: ...
@overload
def texts(name: str, default: list[str]) -> list[str]: ...
def texts(name: str, default: list[str] | None = None) -> list[str] | None:
    """A ``type = "list"`` input, or ``default`` when it was not given."""
    return _typed(name, list, "list", default)  # type: ignore[return-value]
