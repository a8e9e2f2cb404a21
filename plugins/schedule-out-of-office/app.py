"""Schedules automatic replies (out of office) for a list of users, or turns
them off, with ``Set-MailboxAutoReplyConfiguration``; reports what happened
to each user as CSV.

In a what-if run (``exorun run --what-if``) the writes go into a plan for
``exorun apply`` instead of the tenant, and each user's result says
``planned``.

A user whose mailbox does not exist is reported and the others go on. Any
other per-user failure (a denial by the manifest, an unknown outcome) is
reported too, and then fails the run, so that a scheduled job notices; the
error message carries the whole per-user summary.
"""

import csv
import io
from datetime import datetime

import exorun
from exorun import inputs, log

CMDLET = "Set-MailboxAutoReplyConfiguration"

# Writes per invoke_many batch; each call is checked by the host on its own.
BATCH = 50

AUDIENCES = ("None", "Known", "All")

HEADER = ["User", "Result", "Detail"]


@exorun.automation
def run() -> str:
    users = unique(inputs.texts("users", []))
    if not users:
        raise exorun.AutomationError(
            "no users given; pass --input users=ann@contoso.com,bob@contoso.com"
        )
    if inputs.boolean("disable", False):
        action, detail = "disabled", "automatic replies off"
        parameters: dict[str, exorun.Param] = {"AutoReplyState": "Disabled"}
    else:
        action = "scheduled"
        parameters, detail = schedule()
    if exorun.what_if():
        action = "planned"

    outcomes: list[tuple[str, str, str]] = []
    for start in range(0, len(users), BATCH):
        chunk = users[start : start + BATCH]
        calls = [exorun.Call(CMDLET, Identity=user, **parameters) for user in chunk]
        for user, result in zip(chunk, exorun.invoke_many(calls)):
            outcome = (user, *classify(result, action, detail))
            if outcome[1] != action:
                log.warn(f"{user}: {outcome[1]}: {outcome[2]}")
            outcomes.append(outcome)
        exorun.progress(len(outcomes), len(users))

    summary = to_csv(outcomes)
    done = sum(1 for o in outcomes if o[1] == action)
    missing = sum(1 for o in outcomes if o[1] == "not found")
    log.info(f"{action} {done} of {len(users)} users; {missing} not found")
    failed = len(outcomes) - done - missing
    if failed:
        raise exorun.AutomationError(
            f"{failed} of {len(users)} users could not be changed; per user:\n{summary}"
        )
    return summary


def schedule() -> tuple[dict[str, exorun.Param], str]:
    """The parameters of a scheduled reply, checked before any write so that
    a typo in the inputs changes no mailbox at all."""
    start = parse_time("start")
    end = parse_time("end")
    if (start.tzinfo is None) != (end.tzinfo is None):
        raise exorun.AutomationError(
            "give both start and end with a UTC offset (2024-07-01T08:00:00Z), or neither"
        )
    if end <= start:
        raise exorun.AutomationError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    internal = inputs.text("internal-message")
    if not internal:
        raise exorun.AutomationError("internal-message is required to schedule replies")
    audience = inputs.text("external-audience", "Known")
    matching = [a for a in AUDIENCES if a.lower() == audience.strip().lower()]
    if not matching:
        raise exorun.AutomationError(
            f"external-audience '{audience}' is not one of {', '.join(AUDIENCES)}"
        )
    parameters: dict[str, exorun.Param] = {
        "AutoReplyState": "Scheduled",
        "StartTime": start.isoformat(),
        "EndTime": end.isoformat(),
        "InternalMessage": internal,
        "ExternalMessage": inputs.text("external-message") or internal,
        "ExternalAudience": matching[0],
    }
    return parameters, f"{start.isoformat()} to {end.isoformat()}"


def parse_time(name: str) -> datetime:
    """An ISO 8601 input as a datetime; a clear error instead of letting
    Exchange refuse the same bad text once per user."""
    text = inputs.text(name)
    if not text:
        raise exorun.AutomationError(
            f"{name} is required to schedule replies (ISO 8601, like 2024-07-01T08:00:00Z); "
            "or pass disable=true"
        )
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise exorun.AutomationError(
            f"{name} '{text}' is not an ISO 8601 time such as 2024-07-01T08:00:00Z"
        ) from None


def classify(
    result: list[exorun.Object] | exorun.CmdletError, action: str, detail: str
) -> tuple[str, str]:
    """(result, detail) of one user's write."""
    if isinstance(result, exorun.NotFound):
        return "not found", result.message
    if isinstance(result, exorun.Denied):
        return "denied", f"{result.rule}: {result.message}"
    if isinstance(result, exorun.OutcomeUnknown):
        return "outcome unknown", f"{result.message}; check the mailbox before retrying"
    if isinstance(result, exorun.CmdletError):
        return "failed", str(result)
    return action, detail


def unique(users: list[str]) -> list[str]:
    """The users in order, each once: addresses ignore case, and writing the
    same mailbox twice in one batch would race."""
    seen: set[str] = set()
    out: list[str] = []
    for user in users:
        key = user.strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append(user.strip())
    return out


def to_csv(rows: list[tuple[str, str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue()
