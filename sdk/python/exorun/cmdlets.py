"""Running cmdlets: one call, a paged read, or a batch.

Every call goes to the host, which checks it against the plugin's
``exorun.toml`` before it may reach the tenant; a call the manifest does not
allow raises :class:`~exorun.errors.Denied` and never leaves the host.

Output objects arrive as JSON text and are returned as ``dict`` s, parsed one
object at a time as the automation asks for them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, TypeAlias

from componentize_py_types import Err
from wit_world.imports import cmdlets as wit_cmdlets
from wit_world.imports import types as wit

from .errors import CmdletError, from_wit
from .params import Param, to_wit

__all__ = ["Object", "Call", "Objects", "cmdlet", "invoke", "invoke_many"]

Object: TypeAlias = dict[str, Any]
"""One output object, as Exchange returns it: a flat JSON object."""


class Call:
    """One cmdlet invocation: ``Call("Get-Mailbox", Identity="ann@contoso.com")``.

    Parameter values are translated when the call is made (see
    :mod:`exorun.params`), so a value with no cmdlet meaning fails here, on
    the line that wrote it. The cmdlet name is positional-only so that a
    cmdlet may take a parameter called ``name``.
    """

    __slots__ = ("cmdlet", "parameters", "_wit")

    def __init__(self, cmdlet: str, /, **parameters: Param) -> None:
        if not isinstance(cmdlet, str) or not cmdlet:
            raise TypeError("a cmdlet name must be a non-empty str such as 'Get-Mailbox'")
        self.cmdlet: str = cmdlet
        self.parameters: dict[str, Param] = dict(parameters)
        self._wit = wit.Call(
            cmdlet, [(name, to_wit(name, value)) for name, value in parameters.items()]
        )

    def to_wit(self) -> wit.Call:
        """The call as the generated bindings take it."""
        return self._wit

    def __repr__(self) -> str:
        shown = " ".join(f"-{n} {v!r}" for n, v in self.parameters.items())
        return f"Call({self.cmdlet}{' ' if shown else ''}{shown})"


class Objects(Iterator[Object]):
    """The output objects of a paged read, fetched lazily one page at a time.

    Only the current page is held, as JSON text, and each object is parsed
    when it is reached: iterating over ``Get-Mailbox -ResultSize Unlimited``
    on a tenant of 100,000 mailboxes keeps one page in memory, not the
    tenant. Iterate over :meth:`pages` instead to work page by page (for
    example to send one batch per page).

    The host reader is released when the objects run out, on an error, or on
    :meth:`close` (also via ``with``): close a read abandoned half-way, since
    a run may hold only so many open readers.
    """

    def __init__(self, reader: wit_cmdlets.Pages, call: Call) -> None:
        self._reader: wit_cmdlets.Pages | None = reader
        self._page: list[str] = []
        self._position = 0
        self.call: Call = call

    def __iter__(self) -> Objects:
        return self

    def __next__(self) -> Object:
        while self._position >= len(self._page):
            page = self._next_page()
            if page is None:
                raise StopIteration
            self._page, self._position = page, 0
        text = self._page[self._position]
        self._position += 1
        return _parse(text)

    def pages(self) -> Iterator[list[Object]]:
        """The remaining objects, one page (a list) at a time."""
        if self._position < len(self._page):
            rest = self._page[self._position :]
            self._page, self._position = [], 0
            yield [_parse(t) for t in rest]
        while (page := self._next_page()) is not None:
            yield [_parse(t) for t in page]

    def close(self) -> None:
        """Releases the host's reader; iterating afterwards yields nothing."""
        self._page, self._position = [], 0
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.__exit__(None, None, None)

    def __enter__(self) -> Objects:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _next_page(self) -> list[str] | None:
        """The next page from the host, or ``None`` at the end."""
        if self._reader is None:
            return None
        try:
            page = self._reader.next()
        except Err as e:
            self.close()
            raise from_wit(e.value) from None
        if page is None:
            self.close()
        return page


def cmdlet(name: str, /, **parameters: Param) -> Objects:
    """Opens a paged read: ``for m in cmdlet("Get-Mailbox", ResultSize="Unlimited")``.

    The call is checked and sent when ``cmdlet`` is called, so a denial or a
    bad parameter raises here, where the call is written; the objects are
    then fetched page by page as they are iterated over.
    """
    call = Call(name, **parameters)
    try:
        reader = wit_cmdlets.open_pages(call.to_wit())
    except Err as e:
        raise from_wit(e.value) from None
    return Objects(reader, call)


def invoke(name: str, /, **parameters: Param) -> list[Object]:
    """Runs one cmdlet and returns all its output objects.

    As in Exchange, without ``ResultSize`` a read returns at most 1000
    objects; use :func:`cmdlet` for large reads, which pages.
    """
    call = Call(name, **parameters)
    try:
        texts = wit_cmdlets.invoke(call.to_wit())
    except Err as e:
        raise from_wit(e.value) from None
    return [_parse(t) for t in texts]


def invoke_many(calls: Iterable[Call]) -> list[list[Object] | CmdletError]:
    """Runs several calls concurrently on the host; results in call order.

    Each call is checked and fails on its own: a failed call's place in the
    result holds its :class:`~exorun.errors.CmdletError` (not raised, as
    with ``asyncio.gather(..., return_exceptions=True)``), so one missing
    mailbox does not lose the other answers. Test with ``isinstance``.
    The host holds every result of a batch at once, so send a page's worth
    (tens or hundreds of calls), not the whole tenant.
    """
    wit_calls = [c.to_wit() for c in calls]
    results: list[list[Object] | CmdletError] = []
    for result in wit_cmdlets.invoke_many(wit_calls):
        if isinstance(result, Err):
            results.append(from_wit(result.value))
        else:
            results.append([_parse(t) for t in result.value])
    return results


def _parse(text: str) -> Object:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"the host returned an output object that is not a JSON object: {text[:80]}")
    return value
