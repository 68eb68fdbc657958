"""Streaming metric base: state is a dict of additive tensors, so merging and DDP all-reduce are sums."""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch


@dataclass(frozen=True)
class MetricSpec:
    """A reported number: its key, unit and direction (never a parallel 0/1 list)."""

    name: str
    unit: str
    higher_is_better: bool

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


class Metric:
    """Streaming metric. Subclasses register additive state tensors with ``add_state`` and implement
    ``update(pred, target)`` and ``compute() -> dict[str, float]``.

    Convention: every state tensor is a sum over samples, so ``merge`` (in-process) and ``all_reduce``
    (torch.distributed, SUM) give exactly the one-process result. State lives on the device of the
    first ``update`` (device-agnostic); ``compute`` returns Python floats.

    Because the state is additive, one image's statistic is the state increment it contributes, and the
    metric of any multiset of images is ``compute`` on the sum of their increments: the bootstrap over
    images (``mtbench.metrics.bootstrap``) rests on this. A metric whose reported values are not a function
    of such sums sets ``bootstrappable = False`` (it is then never bootstrapped).
    """

    specs: ClassVar[tuple[MetricSpec, ...]] = ()
    """What ``compute`` reports, declared on the class (read without building a metric)."""
    per_class: ClassVar[MetricSpec | None] = None
    """A family reported once per class as ``<name>_<k>`` (e.g. ``IoU_3``), if any."""

    @classmethod
    def metric_specs(cls, num_classes: int | None = None) -> tuple[MetricSpec, ...]:
        """Every reported number: ``specs``, then the per-class family for ``num_classes`` classes."""
        if cls.per_class is None or not num_classes:
            return cls.specs
        return cls.specs + tuple(replace(cls.per_class, name=f"{cls.per_class.name}_{k}") for k in range(num_classes))

    @classmethod
    def find_spec(cls, key: str) -> MetricSpec | None:
        """The spec of a reported key (``IoU_7`` finds the per-class family), None if not reported."""
        exact = next((s for s in cls.specs if s.name == key), None)
        if exact is not None or cls.per_class is None:
            return exact
        if re.fullmatch(rf"{re.escape(cls.per_class.name)}_\d+", key):
            return replace(cls.per_class, name=key)
        return None

    bootstrappable: ClassVar[bool] = True
    """True when every value of ``compute`` is a function of the summed state alone (the convention above),
    so per-image state increments can be resampled; False: no bootstrap for this metric."""

    def bootstrap_state_names(self, key: str) -> list[str]:
        """The state tensors that ``compute()[key]`` reads: the per-image statistics of a bootstrap of ``key``
        keep only these (the others are zero when its replicates are computed). Default: every state tensor;
        a metric overrides it to leave out a large state that ``key`` does not need."""
        return list(self._state_names)

    def protocol(self) -> dict[str, Any]:
        """How the numbers are made where options change them (stored in the run record); {} = nothing to say."""
        return {}

    def __init__(self) -> None:
        self._state_names: list[str] = []

    def add_state(self, name: str, value: torch.Tensor) -> None:
        self._state_names.append(name)
        setattr(self, name, value)

    def state(self) -> dict[str, torch.Tensor]:
        return {n: getattr(self, n) for n in self._state_names}

    def to(self, device: torch.device | str) -> Metric:
        for n in self._state_names:
            setattr(self, n, getattr(self, n).to(device))
        return self

    def _sync_device(self, t: torch.Tensor) -> None:
        """Move state to the device of incoming predictions (called at the start of ``update``)."""
        first = getattr(self, self._state_names[0])
        if first.device != t.device:
            self.to(t.device)

    def _begin_update(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Start of every ``update``: state follows ``pred``'s device, shapes must agree; returns ``target``
        on that device."""
        self._sync_device(pred)
        if pred.shape != target.shape:
            raise ValueError(
                f"{type(self).__name__}: expected pred and target of the same shape, got "
                f"{tuple(pred.shape)} and {tuple(target.shape)}"
            )
        return target.to(pred.device)

    def reset(self) -> None:
        for n in self._state_names:
            getattr(self, n).zero_()

    def empty_copy(self) -> Metric:
        """A metric of the same class and options with zero state, on this metric's device."""
        other = copy.deepcopy(self)
        other.reset()
        return other

    def load_state(self, state: Mapping[str, torch.Tensor]) -> Metric:
        """Set the state tensors named in ``state`` (each cast to that tensor's dtype and device; shapes must
        agree; integer tensors are rounded first) and zero the others. Returns self."""
        unknown = set(state) - set(self._state_names)
        if unknown:
            raise KeyError(f"{type(self).__name__}: no state named {', '.join(sorted(unknown))}")
        for n in self._state_names:
            mine = getattr(self, n)
            if n not in state:
                mine.zero_()
                continue
            value = state[n].to(mine.device)
            if value.shape != mine.shape:
                raise ValueError(f"cannot load state '{n}': shapes {tuple(value.shape)} and {tuple(mine.shape)}")
            if not mine.is_floating_point() and value.is_floating_point():
                value = torch.round(value)
            setattr(self, n, value.to(mine.dtype).clone())
        return self

    def merge(self, other: Metric) -> Metric:
        """Add another metric's state into this one (same class and configuration)."""
        if type(other) is not type(self):
            raise TypeError(f"cannot merge {type(other).__name__} into {type(self).__name__}")
        for n in self._state_names:
            mine, theirs = getattr(self, n), getattr(other, n).to(getattr(self, n).device)
            if mine.shape != theirs.shape:
                raise ValueError(f"cannot merge state '{n}': shapes {tuple(mine.shape)} and {tuple(theirs.shape)}")
            setattr(self, n, mine + theirs)
        return self

    def all_reduce(self) -> Metric:
        """Sum the state over all processes of the default torch.distributed group (no-op when not distributed)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            for n in self._state_names:
                t = getattr(self, n)
                # gloo cannot reduce every dtype on every backend; reduce in float64/int64 copies.
                buf = t.to(torch.float64 if t.is_floating_point() else torch.int64).clone()
                dist.all_reduce(buf, op=dist.ReduceOp.SUM)
                setattr(self, n, buf.to(t.dtype))
        return self

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def compute(self) -> dict[str, float]:  # pragma: no cover - abstract
        raise NotImplementedError
