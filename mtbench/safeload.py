"""Files other people made are read as data: checkpoints never run code unless the user says they trust them.

A ``torch.save`` file is a pickle, and a full unpickle calls whatever functions the file names (a shared
run folder's ``checkpoint.pt`` could run ``os.system``). mtbench therefore reads every checkpoint with
torch's restricted ``weights_only=True`` unpickler, which builds only tensors and plain values
(numbers, strings, lists, tuples, dicts) plus the globals explicitly allowed for that kind of file:

- mtbench's own checkpoints: nothing extra (they hold only plain values, see
  :mod:`mtbench.engine.checkpoint`).
- Foreign weights (``--pretrained``: timm / torchvision / HRNet / mmseg checkpoints):
  :func:`foreign_globals`: NumPy arrays, scalars and dtypes (NumPy rebuilds them from raw bytes and calls
  nothing else), and inert :class:`Placeholder` stand-ins for the metadata classes such checkpoints
  carry (mmengine's ``HistoryBuffer``/``MessageHub``/``ConfigDict``, mmcv's ``ConfigDict``,
  ``argparse.Namespace``) and for ``getattr`` (HistoryBuffer pickles ``getattr(HistoryBuffer, 'min')``;
  the stand-in records the reference and reads nothing): the real classes are never looked up, so no
  code of theirs runs; mtbench uses only the tensors.

Anything else is refused with one line naming the file and the refused global. A full unpickle happens
only inside :func:`trust_scope` ``(True)``, i.e. with ``--trust-checkpoint`` (``run.trust_checkpoint``),
and only after the safe load failed; it is logged and noted for the record (:func:`trust_notes`).
"""

from __future__ import annotations

import io
import logging
import pickle
import pickletools
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import torch

from mtbench.errors import MtbenchError

log = logging.getLogger(__name__)
TRUST_FLAG = "--trust-checkpoint"


class CheckpointError(MtbenchError):
    """A checkpoint that cannot be used (unreadable, unsafe, not the expected kind); one line naming the file."""


# ---- trust ----------------------------------------------------------------------------------------------


@dataclass
class _Scope:
    trust: bool
    notes: list[str] = field(default_factory=list)


_SCOPE: ContextVar[_Scope | None] = ContextVar("mtbench_trust_scope", default=None)


@contextmanager
def trust_scope(trust: bool) -> Iterator[list[str]]:
    """Within the block, checkpoint loaders may fall back to a full unpickle iff ``trust``; yields the list
    of notes about such loads (shared with an enclosing scope, so an outer record sees inner loads)."""
    outer = _SCOPE.get()
    scope = _Scope(bool(trust), outer.notes if outer is not None else [])
    token = _SCOPE.set(scope)
    try:
        yield scope.notes
    finally:
        _SCOPE.reset(token)


def trusted() -> bool:
    """Whether the current scope allows a full unpickle (``--trust-checkpoint``); False outside any scope."""
    scope = _SCOPE.get()
    return bool(scope and scope.trust)


def trust_notes() -> list[str]:
    """Notes of the full unpickles done in the current scope (for the record)."""
    scope = _SCOPE.get()
    return list(scope.notes) if scope is not None else []


def _note_full_unpickle(path: Path) -> None:
    note = f"checkpoint {path} loaded with a full unpickle ({TRUST_FLAG})"
    log.warning("%s", note)
    scope = _SCOPE.get()
    if scope is not None and note not in scope.notes:
        scope.notes.append(note)


# ---- allowed globals -------------------------------------------------------------------------------------


class Placeholder:
    """Inert stand-in for a metadata object of a foreign checkpoint (the original class is never imported
    nor called): keeps the constructor arguments and the pickled state as plain data."""

    original: str = "?"
    args: tuple[Any, ...]
    state: Any

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        obj = object.__new__(cls)
        obj.args, obj.state = args, None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<placeholder for {self.original}>"


# Metadata classes that real foreign checkpoints carry (module path as pickled): mmengine's runner saves
# the MessageHub state (HistoryBuffer objects; early mmengine the MessageHub itself), configs may appear as
# ConfigDict, timm / DeiT training checkpoints store their argparse.Namespace.
FOREIGN_METADATA_CLASSES: tuple[str, ...] = (
    "mmengine.logging.history_buffer.HistoryBuffer",
    "mmengine.logging.message_hub.MessageHub",
    "mmengine.config.config.ConfigDict",
    "mmcv.utils.config.ConfigDict",
    "argparse.Namespace",
)


class AttributeReference:
    """What an inert ``getattr(owner, name)`` gives: the two values, no attribute is read."""

    def __init__(self, owner: Any, name: Any) -> None:
        self.owner, self.name = owner, name

    def __repr__(self) -> str:
        return f"<attribute {self.name!r} of {self.owner!r} (not loaded)>"


def _inert_getattr(owner: Any, name: Any, *default: Any) -> AttributeReference:
    """Stands in for ``builtins.getattr`` in foreign metadata: mmengine's HistoryBuffer pickles its statistics
    methods as ``getattr(HistoryBuffer, 'min')``. Records the reference; never reads the attribute."""
    return AttributeReference(owner, name)


@cache
def _placeholder(fullname: str) -> type:
    """A Placeholder subclass the weights_only unpickler finds under ``fullname``. (It keys allowed globals
    by ``__module__.__qualname__``; naming the class so works on every torch >= 2.4.)"""
    module, _, name = fullname.rpartition(".")
    return type(name, (Placeholder,), {"__module__": module, "__qualname__": name, "original": fullname})


def _named(fn: Any, fullname: str) -> Any:
    """``fn`` under another pickled name (NumPy 1 pickles say numpy.core, NumPy 2 numpy._core)."""
    if f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', '')}" == fullname:
        return fn
    module, _, name = fullname.rpartition(".")

    def call(*args: Any) -> Any:
        return fn(*args)

    call.__module__, call.__qualname__, call.__name__ = module, name, name
    return call


@lru_cache(maxsize=1)
def numpy_globals() -> tuple[Any, ...]:
    """What ``weights_only`` needs for NumPy arrays, scalars and dtypes: ``_reconstruct``/``scalar`` under both
    NumPy module names, ``ndarray``, ``dtype`` and the dtype classes (their instances are rebuilt by NumPy
    from raw bytes; an object array's items go through the same restricted unpickler)."""
    import numpy as np

    try:
        from numpy._core import multiarray as ma
    except ImportError:  # NumPy < 1.26
        from numpy.core import multiarray as ma  # type: ignore[no-redef]
    out: list[Any] = [np.ndarray, np.dtype]
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out += [_named(ma._reconstruct, f"{mod}._reconstruct"), _named(ma.scalar, f"{mod}.scalar")]
    dtype_classes = {type(np.dtype(c)) for c in np.typecodes["All"] + "OSUV"}
    return tuple(dict.fromkeys(out + sorted(dtype_classes, key=str)))


NUMPY_GLOBAL_NAMES = frozenset(
    {
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
    }
)


@lru_cache(maxsize=1)
def foreign_globals() -> tuple[Any, ...]:
    """Globals allowed when reading foreign weights: NumPy values, the metadata placeholders and an inert
    ``getattr`` (for HistoryBuffer's pickled statistics methods)."""
    return (
        numpy_globals()
        + tuple(_placeholder(n) for n in FOREIGN_METADATA_CLASSES)
        + (_named(_inert_getattr, "builtins.getattr"),)
    )


@contextmanager
def _allowing(extra: Iterable[Any]) -> Iterator[None]:
    extra = list(extra)
    ctx = getattr(torch.serialization, "safe_globals", None)
    if not extra:
        yield
    elif ctx is not None:
        with ctx(extra):
            yield
    else:  # torch 2.4: no context manager; these globals are safe to keep allowed
        torch.serialization.add_safe_globals(extra)
        yield


# ---- loading --------------------------------------------------------------------------------------------


def refused_globals(path: Path, allow: Iterable[Any], err: BaseException) -> list[str]:
    """The globals of ``path`` that the restricted unpickler refuses (statically, nothing is unpickled)."""
    names: list[str] = []
    getter = getattr(torch.serialization, "get_unsafe_globals_in_checkpoint", None)
    if getter is not None:
        try:
            with _allowing(allow):
                names = sorted(getter(str(path)))
        except Exception:  # a legacy (non-zip) file or an opcode it does not know: read the error instead
            names = []
    if not names:
        names = list(dict.fromkeys(re.findall(r"GLOBAL ([\w.]+)", str(err))))
    return names


def _one_line(err: BaseException) -> str:
    """A torch error as one short line (its weights_only errors hold a paragraph of advice)."""
    text = str(err)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    text = re.split(r"\s*Check the documentation of torch\.load", text)[0]
    line = re.split(r"\.\s+(?=[A-Z])", " ".join(text.split()))[0]  # the first sentence
    return f"{type(err).__name__}: {line[:300]}" if line else type(err).__name__


def _parses_as_pickle(path: Path) -> bool:
    """Whether the file's (first) pickle parses: opcodes only, statically, nothing is built or called."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if not names:
                return False
            stream: Any = io.BytesIO(z.read(names[0]))
    except (zipfile.BadZipFile, OSError):
        stream = None
    try:
        with open(path, "rb") if stream is None else stream as f:
            for _ in pickletools.genops(f):
                pass
        return True
    except Exception:
        return False


def unsafe_message(path: Path, refused: list[str], err: BaseException) -> str:
    what = (
        (
            f"global{'s' if len(refused) > 1 else ''} {', '.join(refused[:4])}"
            + (f" and {len(refused) - 4} more" if len(refused) > 4 else "")
        )
        if refused
        else _one_line(err)
    )
    return (
        f"{path}: unsafe content refused ({what}: a checkpoint may only hold tensors and plain values); "
        f"{TRUST_FLAG} would allow a full unpickle, which runs any code in the file: use it only for a file "
        "you trust"
    )


def load_torch_file(path: str | Path, *, allow: Iterable[Any] = (), unsafe_hint: Any = None) -> tuple[Any, bool]:
    """``torch.load(path, weights_only=True)`` with the globals ``allow`` (on CPU); returns (object,
    whether a full unpickle was needed). If the restricted load refuses the file: a full unpickle when
    the current :func:`trust_scope` trusts checkpoints (noted), else a one-line :class:`CheckpointError`
    naming the file and the refused globals (``unsafe_hint(path, refused, err)`` may word it). Unreadable
    files: a one-line 'cannot read checkpoint' error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    allow = list(allow)
    try:
        with _allowing(allow), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's note on pickle protocols: errors say what matters
            return torch.load(path, map_location="cpu", weights_only=True), False
    except pickle.UnpicklingError as e:
        refused, first = refused_globals(path, allow, e), e
    except Exception as e:  # truncated/corrupt files raise various errors from deep inside torch
        raise CheckpointError(f"{path}: cannot read checkpoint ({_one_line(e)})") from e
    if not refused and not _parses_as_pickle(path):
        # not a pickle at all (an HTML page, text, half a file): nothing that trust could fix
        raise CheckpointError(f"{path}: cannot read checkpoint ({_one_line(first)})") from first
    if not trusted():
        msg = unsafe_hint(path, refused, first) if unsafe_hint else None
        raise CheckpointError(msg or unsafe_message(path, refused, first)) from first
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({_one_line(e)})") from e
    _note_full_unpickle(path)
    return obj, True
