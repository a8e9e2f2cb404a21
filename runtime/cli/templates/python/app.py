"""{{name}}: the automation's entry point.

Cmdlet calls go through the ``exorun`` SDK; keep the logic in ``report.py``,
which has no host calls and is tested with ``python3 -m unittest``.
"""

import exorun
from exorun import inputs, log

import report


@exorun.automation
def run() -> str:
    name = inputs.text("name", "operator")
    log.info(f"greeting {name}")
    return report.greeting(name)
