"""Automatic-reply report: ``Get-Mailbox -ResultSize Unlimited``, read one
page at a time, then ``Get-MailboxAutoReplyConfiguration -Identity`` for each
mailbox of the page (one ``invoke_many`` batch per page), as one CSV row per
mailbox whose automatic replies are Enabled or Scheduled.

Read-only: its manifest allows exactly these two cmdlets and parameters.
"""

import csv
import html
import io
import re

import exorun
from exorun import log

HEADER = [
    "PrimarySmtpAddress",
    "DisplayName",
    "AutoReplyState",
    "StartTime",
    "EndTime",
    "ExternalAudience",
    "InternalMessagePreview",
]

# States in which Exchange sends automatic replies (now, or in a window).
ACTIVE_STATES = {"enabled", "scheduled"}

# Calls per invoke_many batch: the host holds a whole batch's answers at
# once, so a batch is a slice of one page, never the tenant.
BATCH = 100

PREVIEW_CHARS = 60

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


@exorun.automation
def run() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    checked = active = missing = 0
    for page in exorun.cmdlet("Get-Mailbox", ResultSize="Unlimited").pages():
        for start in range(0, len(page), BATCH):
            mailboxes = page[start : start + BATCH]
            calls = [
                exorun.Call("Get-MailboxAutoReplyConfiguration", Identity=m["PrimarySmtpAddress"])
                for m in mailboxes
            ]
            for mailbox, result in zip(mailboxes, exorun.invoke_many(calls)):
                if isinstance(result, exorun.NotFound):
                    # Deleted between the list and this read: nothing to report.
                    log.warn(f"{mailbox['PrimarySmtpAddress']}: {result.message}")
                    missing += 1
                    continue
                if isinstance(result, exorun.CmdletError):
                    raise result
                for config in result:
                    if str(config.get("AutoReplyState", "")).lower() in ACTIVE_STATES:
                        writer.writerow(row(mailbox, config))
                        active += 1
            checked += len(mailboxes)
            exorun.progress(checked)
    log.info(
        f"{active} of {checked} mailboxes have automatic replies on"
        + (f"; {missing} vanished while the report ran" if missing else "")
    )
    return out.getvalue()


def row(mailbox: exorun.Object, config: exorun.Object) -> list[str]:
    """One CSV row. The schedule is shown only for Scheduled replies: an
    Enabled reply ignores StartTime/EndTime, which then hold stale values."""
    state = str(config.get("AutoReplyState", ""))
    scheduled = state.lower() == "scheduled"
    return [
        str(mailbox.get("PrimarySmtpAddress", "")),
        str(mailbox.get("DisplayName", "")),
        state,
        str(config.get("StartTime") or "") if scheduled else "",
        str(config.get("EndTime") or "") if scheduled else "",
        str(config.get("ExternalAudience", "")),
        preview(str(config.get("InternalMessage") or "")),
    ]


def preview(message: str) -> str:
    """The start of a reply as plain text. Exchange stores replies as HTML,
    so tags are dropped, entities decoded and whitespace collapsed."""
    text = _SPACE.sub(" ", html.unescape(_TAG.sub(" ", message))).strip()
    if len(text) <= PREVIEW_CHARS:
        return text
    return text[: PREVIEW_CHARS - 1].rstrip() + "…"
