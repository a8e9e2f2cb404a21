"""One Get-Mailbox -Identity call; returns the raw object."""

import json

import exorun
from exorun import inputs


@exorun.automation
def run() -> str:
    identity = inputs.text("identity", "")
    return "\n".join(json.dumps(o) for o in exorun.invoke("Get-Mailbox", Identity=identity))
