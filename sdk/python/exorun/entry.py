"""Declaring the automation: ``@exorun.automation`` on the ``run`` function
of the plugin's ``app.py``.

componentize-py exports the world's ``run`` from a class named ``WitWorld``
in the entry module. Writing that class by hand means knowing about
componentize-py's ``Err`` and turning every exception into a string; the
decorator does both, so ``app.py`` is just a function that returns its
output or raises.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from types import ModuleType

from componentize_py_types import Err

from .errors import AutomationError, CmdletError
from .log import error as log_error

__all__ = ["automation", "Run"]

Run = Callable[[], str]
"""The automation: no arguments (inputs come from :mod:`exorun.inputs`),
returns the run's output."""


def automation(run: Run) -> Run:
    """Makes ``run`` the automation of the module that defines it.

    The module (always ``app.py``: the build compiles the module named
    ``app``) gains the ``WitWorld`` class componentize-py exports. When the
    host calls the component's ``run``:

    - a returned ``str`` is the run's output;
    - an :class:`~exorun.errors.AutomationError` fails the run with its message;
    - a :class:`~exorun.errors.CmdletError` fails it with the error's text,
      worded as every exorun SDK words it (``not found: ...``);
    - any other exception fails it with ``Type: message (app.py, line N, in f)``,
      and its traceback goes to the run log.

    ``run`` is returned unchanged, so it can still be called directly.
    """
    module = sys.modules.get(run.__module__)
    if module is None:
        raise RuntimeError(f"@automation: module {run.__module__!r} is not loaded")
    if getattr(module, "WitWorld", None) is not None:
        raise RuntimeError(
            f"@automation: module {module.__name__!r} already has an automation "
            "(or its own WitWorld); a plugin has exactly one run function"
        )
    origin = _module_dir(module)

    class WitWorld:
        """The export componentize-py calls; runs the decorated function."""

        def run(self) -> str:
            return _run_guarded(run, origin)

    WitWorld.__module__ = module.__name__
    WitWorld.__qualname__ = "WitWorld"
    setattr(module, "WitWorld", WitWorld)
    return run


def _run_guarded(run: Run, origin: str | None) -> str:
    """Calls ``run`` and turns its outcome into the world's result."""
    try:
        output = run()
    except AutomationError as e:
        # An explained failure: its message is the whole story.
        raise Err(str(e)) from None
    except CmdletError as e:
        # The traceback says which call failed, which the message may not.
        _log_traceback(e)
        raise Err(str(e)) from None
    except SystemExit as e:
        raise Err(
            f"the automation called sys.exit({e.code!r}); "
            "return the output or raise an exception instead"
        ) from None
    except Exception as e:
        _log_traceback(e)
        raise Err(_describe(e, origin)) from None
    if not isinstance(output, str):
        raise Err(
            f"{getattr(run, '__name__', 'run')}() returned {type(output).__name__}; "
            "an automation returns its output as a str"
        )
    return output


def _describe(e: BaseException, origin: str | None) -> str:
    """``Type: message (file, line N, in function)``, located in the
    plugin's own code when the traceback passes through it: the frame
    inside the SDK or the standard library is rarely the one to fix."""
    text = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    try:
        frames = traceback.extract_tb(e.__traceback__)
    except Exception:  # formatting must never hide the original error
        return text
    own = [f for f in frames if origin is not None and f.filename.startswith(origin)]
    frame = own[-1] if own else (frames[-1] if frames else None)
    if frame is None:
        return text
    return f"{text} ({os.path.basename(frame.filename)}, line {frame.lineno}, in {frame.name})"


def _log_traceback(e: BaseException) -> None:
    """Logs the traceback from the automation's own frames down: the first
    frame is this module's call of ``run``, which would only add noise."""
    try:
        tb = e.__traceback__
        if tb is not None and tb.tb_frame.f_code is _run_guarded.__code__:
            tb = tb.tb_next
        lines = traceback.format_exception(type(e), e, tb)
        log_error("".join(lines).rstrip())
    except Exception:  # formatting failed: the error itself still fails the run
        pass


def _module_dir(module: ModuleType) -> str | None:
    path = getattr(module, "__file__", None)
    return os.path.dirname(path) + os.sep if path else None
