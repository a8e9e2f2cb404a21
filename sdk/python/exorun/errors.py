"""Why a cmdlet call failed: one exception class per case of the WIT
``cmdlet-error`` variant, so that automations catch the case they can handle
(``except NotFound:``) instead of parsing messages.

``str(error)`` is worded exactly as the Rust SDK words the same error, so a
run that fails on an uncaught cmdlet error reports the same text whichever
language the plugin is written in.
"""

from __future__ import annotations

from wit_world.imports import types as wit

__all__ = [
    "AutomationError",
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
]


class AutomationError(Exception):
    """The automation's own failure (bad input, an impossible state).

    Raise it from ``run`` to fail the run with exactly this message; any
    other exception's message is prefixed with its type and location, which
    helps with bugs but reads badly for an expected, explained failure.
    """


class CmdletError(Exception):
    """A cmdlet call failed. Catch a subclass to handle one case.

    ``message`` is the host's or Exchange's explanation, without the prefix
    that ``str()`` adds.
    """

    _prefix = "cmdlet error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message: str = message

    def __str__(self) -> str:
        return f"{self._prefix}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class Denied(CmdletError):
    """The plugin's manifest does not allow the call; it never left the host.

    ``rule`` names the manifest rule, such as
    ``validate-set:Set-Mailbox/ForwardingSmtpAddress``.
    """

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule: str = rule

    def __str__(self) -> str:
        return f"denied ({self.rule}): {self.message}"

    def __repr__(self) -> str:
        return f"Denied(rule={self.rule!r}, message={self.message!r})"


class NotFound(CmdletError):
    """The object named by Identity (or a similar parameter) does not exist."""

    _prefix = "not found"


class Ambiguous(CmdletError):
    """The identity matched more than one object; use a unique one."""

    _prefix = "ambiguous"


class InvalidParameter(CmdletError):
    """Exchange refused a parameter or its value."""

    _prefix = "invalid parameter"


class Forbidden(CmdletError):
    """The tenant's own RBAC refused the app (not the manifest: see Denied)."""

    _prefix = "forbidden by the tenant"


class Throttled(CmdletError):
    """The tenant's budget is spent even after the host's own retries.

    ``retry_after_ms`` is how long to wait before trying again.
    """

    def __init__(self, retry_after_ms: int) -> None:
        super().__init__(f"retry after {retry_after_ms} ms")
        self.retry_after_ms: int = retry_after_ms

    def __str__(self) -> str:
        return f"throttled: {self.message}"

    def __repr__(self) -> str:
        return f"Throttled(retry_after_ms={self.retry_after_ms!r})"


class OutcomeUnknown(CmdletError):
    """A write was sent but its outcome is unknown: read before retrying."""

    _prefix = "outcome unknown"


class LimitExceeded(CmdletError):
    """A limit of this run is exhausted (for example ``[limits] max-calls``)."""

    _prefix = "limit exceeded"


class Failed(CmdletError):
    """Any other failure; ``code`` is Exchange's error code when it has one."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code: str = code

    def __str__(self) -> str:
        return f"failed ({self.code}): {self.message}"

    def __repr__(self) -> str:
        return f"Failed(code={self.code!r}, message={self.message!r})"


def from_wit(error: wit.CmdletError) -> CmdletError:
    """The exception for one case of the WIT variant (used by the SDK)."""
    match error:
        case wit.CmdletError_Denied(value=denial):
            return Denied(denial.rule, denial.message)
        case wit.CmdletError_NotFound(value=message):
            return NotFound(message)
        case wit.CmdletError_Ambiguous(value=message):
            return Ambiguous(message)
        case wit.CmdletError_InvalidParameter(value=message):
            return InvalidParameter(message)
        case wit.CmdletError_Forbidden(value=message):
            return Forbidden(message)
        case wit.CmdletError_Throttled(value=milliseconds):
            return Throttled(milliseconds)
        case wit.CmdletError_OutcomeUnknown(value=message):
            return OutcomeUnknown(message)
        case wit.CmdletError_LimitExceeded(value=message):
            return LimitExceeded(message)
        case wit.CmdletError_Failed(value=failure):
            return Failed(failure.code, failure.message)
    # A newer host may add a case; say so rather than lose the error.
    return Failed("unknown-error", repr(error))
