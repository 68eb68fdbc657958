"""Loading a file of ``scripts/`` as a module in the tests (the scripts are not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(filename: str, name: str | None = None, register: bool = False) -> ModuleType:
    """``scripts/<filename>`` executed as module ``name`` (default: its stem). ``register`` puts it in
    ``sys.modules`` first (what dataclasses and pickling of its classes need); the caller removes it."""
    name = name or Path(filename).stem
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
