"""The RUN argument of the analysis commands (``mtbench show``, ``mtbench affinity``): a run folder."""

from __future__ import annotations

import json
from pathlib import Path

from mtbench.errors import UsageError


def run_folder(source: str | Path) -> Path:
    """A RUN argument as a run folder: a folder as is; a record JSON -> the folder named by its ``id``
    under the record's ``run.runs_dir`` (as recorded in its config), else ``runs/``."""
    p = Path(source)
    if p.is_dir():
        return p
    if p.suffix == ".json" and p.is_file():
        try:
            rec = json.loads(p.read_text())
        except (OSError, ValueError) as e:
            raise UsageError(f"{p}: not a readable record ({type(e).__name__})") from None
        rid = rec.get("id") if isinstance(rec, dict) else None
        if not isinstance(rid, str) or not rid or "/" in rid or rid.startswith("."):
            raise UsageError(f"{p}: record without a run id")
        runs_dir = ((rec.get("config") or {}).get("run") or {}).get("runs_dir") or "runs"
        for base in dict.fromkeys([Path(runs_dir), Path("runs")]):
            if (base / rid / "config.yaml").is_file():
                return base / rid
        raise UsageError(f"{p}: its run folder {Path(runs_dir) / rid} is not here (its checkpoint is needed)")
    raise UsageError(f"{p}: not a run folder or a record JSON")
