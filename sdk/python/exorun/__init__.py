"""Write Exchange Online automations in Python for the exorun sandbox.

An automation is the ``run`` function of a plugin's ``app.py``, marked with
:func:`automation`. It reaches the tenant only through cmdlet calls, each of
which the host checks against the plugin's ``exorun.toml`` before it leaves
the host. It never sees a credential, the network or a file.

The concepts, in the order every exorun SDK documents them:

1. **Run**: ``@exorun.automation def run() -> str``; the returned string is
   the output, an exception fails the run.
2. **Call a cmdlet**: :func:`invoke` runs one call and returns its objects.
3. **Read pages lazily**: :func:`cmdlet` iterates over a large result one
   page at a time.
4. **Batch**: :func:`invoke_many` runs many :class:`Call` s concurrently on
   the host.
5. **Handle errors**: :class:`CmdletError` and one subclass per reason
   (:class:`Denied`, :class:`NotFound`, :class:`Throttled`, ...).
6. **Log, progress, inputs**: :mod:`exorun.log`, :func:`progress`,
   :mod:`exorun.inputs`; :func:`what_if` says whether writes are only
   planned.

::

    import exorun

    @exorun.automation
    def run() -> str:
        shared = exorun.invoke(
            "Get-Mailbox", RecipientTypeDetails="SharedMailbox", ResultSize="Unlimited"
        )
        return f"{len(shared)} shared mailboxes"
"""

from __future__ import annotations

from . import inputs, log
from .cmdlets import Call, Object, Objects, cmdlet, invoke, invoke_many
from .entry import Run, automation
from .errors import (
    Ambiguous,
    AutomationError,
    CmdletError,
    Denied,
    Failed,
    Forbidden,
    InvalidParameter,
    LimitExceeded,
    NotFound,
    OutcomeUnknown,
    Throttled,
)
from .inputs import InputTypeError, InputValue
from .params import Leaf, Param
from ._progress import progress
from ._what_if import what_if

__all__ = [
    "automation",
    "Run",
    "Call",
    "Object",
    "Objects",
    "cmdlet",
    "invoke",
    "invoke_many",
    "Param",
    "Leaf",
    "CmdletError",
    "Denied",
    "NotFound",
    "Ambiguous",
    "InvalidParameter",
    "Forbidden",
    "Throttled",
    "OutcomeUnknown",
    "LimitExceeded",
    "Failed",
    "AutomationError",
    "log",
    "progress",
    "what_if",
    "inputs",
    "InputValue",
    "InputTypeError",
]
