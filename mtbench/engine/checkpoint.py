"""mtbench checkpoints: plain values only, written atomically (temp file + fsync + rename), read with torch's
``weights_only=True`` unpickler, so loading a shared run folder never runs code (see :mod:`mtbench.safeload`).

Format (``version`` 2), a dict:

- ``format``: ``"mtbench-checkpoint"``, ``version``: 2
- ``model``, ``optimizer``, ``scheduler``, ``scaler``: state dicts (tensors and plain values)
- ``train_state``: the trainer's TrainState (numbers, strings, lists, dicts)
- ``rng``: ``python`` ``[version, [625 ints], gauss_next]``; ``numpy`` ``{"bit_generator", "key": [624 ints],
  "pos", "has_gauss", "cached_gaussian"}``; ``torch`` (a uint8 tensor); ``cuda`` (a list of them, if any)
- ``config``: the resolved config (JSON values)

Checkpoints written before this format (no ``format`` entry; NumPy's RNG state pickled as an ndarray) are
refused by the safe loader with a one-line message; ``mtbench checkpoint convert PATH --trust-checkpoint``
rewrites them once in this format (a full unpickle, so only for files the user trusts), and
``--trust-checkpoint`` on ``run``/``eval`` loads them as they are (noted in the record).
"""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mtbench._testhooks import kill_point
from mtbench.safeload import NUMPY_GLOBAL_NAMES, TRUST_FLAG, CheckpointError, load_torch_file, trusted, unsafe_message

FORMAT = "mtbench-checkpoint"
VERSION = 2
TRAINER_KEYS = ("model", "optimizer", "scheduler", "scaler", "train_state", "rng", "config")
_LEAVES = (type(None), bool, int, float, str, bytes, torch.dtype, torch.device, torch.Size)
_CONTAINERS = (dict, OrderedDict, list, tuple)


# ---- plain values -------------------------------------------------------------------------------------


def to_plain(obj: Any) -> Any:
    """NumPy scalars and arrays -> Python numbers and lists, recursively through dicts, lists and tuples."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return (tuple if isinstance(obj, tuple) else list)(to_plain(v) for v in obj)
    return obj


def check_plain(obj: Any, where: str = "checkpoint") -> None:
    """Raise TypeError naming the entry when ``obj`` holds anything the weights_only loader would refuse."""
    t = type(obj)
    if t in _LEAVES or t in (torch.Tensor, torch.nn.Parameter):
        return
    if t not in _CONTAINERS:
        raise TypeError(
            f"{where}: {t.__module__}.{t.__qualname__} is not a plain value (tensors, numbers, "
            "strings, lists, tuples, dicts only)"
        )
    if isinstance(obj, dict):
        meta = getattr(obj, "_metadata", None)  # a module state dict's version information
        if meta is not None:
            check_plain(meta, f"{where}._metadata")
        for k, v in obj.items():
            if type(k) not in (str, int):
                raise TypeError(f"{where}: key {k!r} is not a string or an integer")
            check_plain(v, f"{where}.{k}")
    else:
        for i, v in enumerate(obj):
            check_plain(v, f"{where}[{i}]")


# ---- RNG states as plain values -------------------------------------------------------------------------


def python_rng_to_plain(state: tuple) -> list:
    version, internal, gauss_next = state
    return [int(version), [int(x) for x in internal], None if gauss_next is None else float(gauss_next)]


def python_rng_from_plain(state: list) -> tuple:
    version, internal, gauss_next = state
    return int(version), tuple(int(x) for x in internal), gauss_next


def numpy_rng_to_plain(state: tuple) -> dict[str, Any]:
    name, key, pos, has_gauss, cached = state
    return {
        "bit_generator": str(name),
        "key": [int(x) for x in np.asarray(key).tolist()],
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def numpy_rng_from_plain(state: dict[str, Any]) -> tuple:
    return (
        state["bit_generator"],
        np.asarray(state["key"], dtype=np.uint32),
        int(state["pos"]),
        int(state["has_gauss"]),
        float(state["cached_gaussian"]),
    )


def plain_rng(st: dict[str, Any]) -> dict[str, Any]:
    """An RNG state dict with ``random.getstate()`` / ``np.random.get_state()`` values -> plain values."""
    out = dict(st)
    if isinstance(out.get("python"), tuple):
        out["python"] = python_rng_to_plain(out["python"])
    if isinstance(out.get("numpy"), tuple):
        out["numpy"] = numpy_rng_to_plain(out["numpy"])
    return out


# ---- writing --------------------------------------------------------------------------------------------


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write ``state`` (plain values only) in the current format so that ``path`` is either the old or the
    complete new file."""
    path = Path(path)
    state = {"format": FORMAT, "version": VERSION, **{k: v for k, v in state.items() if k not in ("format", "version")}}
    check_plain(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        kill_point("checkpoint")  # test hook (no-op unless MTBENCH_TEST_KILL_AT is set)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---- reading --------------------------------------------------------------------------------------------


def _old_format_hint(path: Path, refused: list[str], err: BaseException) -> str:
    if refused and set(refused) <= NUMPY_GLOBAL_NAMES:
        return (
            f"{path}: an mtbench checkpoint in the old format? it holds pickled NumPy objects "
            f"({', '.join(refused)}), which the safe loader refuses; if you trust the file, convert it once "
            f"with 'mtbench checkpoint convert {path} {TRUST_FLAG}' (or pass {TRUST_FLAG} to load it as it is)"
        )
    return unsafe_message(path, refused, err)


def _is_legacy(obj: Any) -> bool:
    return isinstance(obj, dict) and "format" not in obj and {"model", "train_state", "rng"} <= set(obj)


def upgrade_legacy(ck: dict[str, Any]) -> dict[str, Any]:
    """An old-format checkpoint (already unpickled) in the current format."""
    out = {k: v for k, v in ck.items()}
    out["rng"] = plain_rng(ck["rng"])
    out["train_state"] = to_plain(ck["train_state"])
    if "config" in out:
        out["config"] = to_plain(out["config"])
    out["format"], out["version"] = FORMAT, VERSION
    return out


def read_checkpoint(path: str | Path) -> tuple[dict[str, Any], bool]:
    """(checkpoint in the current format, whether it was an old-format file read with a trusted full
    unpickle). One-line CheckpointErrors name the file: not found, unreadable, unsafe content refused,
    an old-format file without ``--trust-checkpoint``, not an mtbench checkpoint, a newer format."""
    path = Path(path)
    obj, full = load_torch_file(path, unsafe_hint=_old_format_hint)
    if full and _is_legacy(obj):
        return upgrade_legacy(obj), True
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        what = (
            type(obj).__name__
            if not isinstance(obj, dict)
            else f"a dict with keys {', '.join(map(str, list(obj)[:5]))}{', ...' if len(obj) > 5 else ''}"
        )
        raise CheckpointError(f"{path}: not an mtbench checkpoint (no format entry '{FORMAT}'; found {what})")
    version = obj.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{path}: mtbench checkpoint format version {version!r}; this mtbench reads "
            f"version {VERSION} (update mtbench)"
        )
    return obj, False


def load_checkpoint(path: str | Path, require: Iterable[str] = ()) -> dict[str, Any]:
    """Load an mtbench checkpoint (on CPU) with the safe loader (a trusted full unpickle of an old-format
    file only under ``--trust-checkpoint``); ``require``: entries that must be present. Errors are one line
    naming the file."""
    ck, _ = read_checkpoint(path)
    missing = [k for k in require if k not in ck]
    if missing:
        raise CheckpointError(f"{path}: incomplete mtbench checkpoint: missing {', '.join(repr(k) for k in missing)}")
    return ck


def convert_checkpoint(path: str | Path) -> str:
    """Rewrite an old-format checkpoint in the current format, atomically (needs a trusting scope, i.e.
    ``--trust-checkpoint``: the old format can only be read with a full unpickle). Returns what was done."""
    path = Path(path)
    if not trusted():
        try:
            read_checkpoint(path)
        except CheckpointError as e:
            if "old format" in str(e):
                raise CheckpointError(
                    f"{path}: converting an old-format checkpoint unpickles it fully, which runs "
                    f"any code in it; add {TRUST_FLAG} if you trust the file"
                ) from e
            raise
        return f"{path}: already in the current format (version {VERSION}); left unchanged"
    ck, legacy = read_checkpoint(path)
    if not legacy:
        return f"{path}: already in the current format (version {VERSION}); left unchanged"
    try:
        save_checkpoint(ck, path)
    except TypeError as e:
        raise CheckpointError(f"{path}: cannot convert: {e}; left unchanged") from e
    from mtbench.safeload import trust_scope

    with trust_scope(False):
        read_checkpoint(path)  # the rewritten file loads with the safe loader
    return f"{path}: converted to the current format (version {VERSION}); it now loads without {TRUST_FLAG}"


# ---- fitting a model ------------------------------------------------------------------------------------


def load_model_weights(model: torch.nn.Module, state: Any, path: str | Path) -> None:
    """Load a checkpoint's model weights strictly; a mismatch with the configured model is one line naming
    the file and the first differing parameter (missing, unexpected, or its two shapes)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: the checkpoint's 'model' entry is not a state dict")
    own = model.state_dict()
    shapes = [
        (k, tuple(state[k].shape), tuple(v.shape))
        for k, v in own.items()
        if k in state
        and isinstance(v, torch.Tensor)
        and isinstance(state[k], torch.Tensor)
        and state[k].shape != v.shape
    ]
    if shapes:
        k, theirs, ours = shapes[0]
        more = f" ({len(shapes) - 1} more parameters differ)" if len(shapes) > 1 else ""
        raise CheckpointError(
            f"{path}: checkpoint does not fit the configured model: parameter '{k}' has shape "
            f"{list(theirs)} in the checkpoint, {list(ours)} in the model{more}"
        )
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(
                f"{len(missing)} parameter(s) of the model missing from the checkpoint (first: '{missing[0]}')"
            )
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: '{unexpected[0]}')")
        raise CheckpointError(f"{path}: checkpoint does not fit the configured model: {'; '.join(parts)}")
    try:
        model.load_state_dict(state)
    except Exception as e:  # e.g. a non-tensor value
        first = " ".join(str(e).split())[:200]
        raise CheckpointError(f"{path}: cannot load the model weights ({type(e).__name__}: {first})") from e
