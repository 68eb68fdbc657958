"""TEST HOOK ONLY: deterministic self-kill points for tests/test_reliability_kill_resume.py.

``MTBENCH_TEST_KILL_AT=<phase>[:<n>[:<SIGNAL>]]`` makes the process send itself ``SIGNAL`` (default
KILL) the ``n``-th time (default 1) it reaches ``<phase>``:

- ``step``: after an optimiser step (and its periodic checkpoint), before the stop-signal check;
- ``checkpoint``: inside ``save_checkpoint``, after the temp file is written, before the rename;
- ``eval``: at the start of an evaluation of the trainer;
- ``record``: inside ``atomic_write_text`` for a ``.json`` file (a result record), before the rename.

When the variable is unset (always, outside these tests) ``kill_point`` returns at once.
"""

from __future__ import annotations

import os
import signal

ENV = "MTBENCH_TEST_KILL_AT"
_reached: dict[str, int] = {}


def kill_point(phase: str) -> None:
    """Kill this process here if ``MTBENCH_TEST_KILL_AT`` names ``phase`` and this is its n-th visit."""
    spec = os.environ.get(ENV)
    if not spec or spec.partition(":")[0] != phase:
        return
    _, n, sig = (spec.split(":") + ["", ""])[:3]
    _reached[phase] = _reached.get(phase, 0) + 1
    if _reached[phase] == int(n or 1):
        os.kill(os.getpid(), getattr(signal, f"SIG{sig or 'KILL'}"))
