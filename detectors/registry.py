"""Detectors by name, so the UI, the jobs and the benchmarks pick trainers by a string."""

from __future__ import annotations

import inspect
from typing import Any

from detectors.baselines import BASELINES
from detectors.beta_kd import BetaKDDetector
from detectors.mix_kd import MixKDDetector
from detectors.pse import FedPSEDetector
from detectors.stkd.detector import STKDDetector
from detectors.xtime import XTimeDetector

STKD_DEFAULTS: dict[str, Any] = {"random_state": 0}

# The other knowledge-distillation trainers, selectable per line beside STKD.
KD_TRAINERS: dict[str, tuple[type, dict[str, Any]]] = {
    "beta_kd": (BetaKDDetector, {"random_state": 0}),
    "mix_kd": (MixKDDetector, {"random_state": 0}),
    "xtime": (XTimeDetector, {"random_state": 0}),
    "pse": (FedPSEDetector, {"random_state": 0}),
}


def available_detectors() -> list[str]:
    """Registered detector names: ``stkd`` first, the other KD trainers, the PyOD baselines."""
    return ["stkd", *KD_TRAINERS, *BASELINES]


def create_detector(name: str, **params: Any) -> Any:
    """A fresh, unfitted detector; ``params`` override the registry defaults.

    Raises ValueError for an unknown name (listing the valid ones) or an unknown parameter.
    """
    key = str(name).lower()
    if key == "stkd":
        cls, defaults = STKDDetector, STKD_DEFAULTS
    elif key in KD_TRAINERS:
        cls, defaults = KD_TRAINERS[key]
    elif key in BASELINES:
        cls, defaults = BASELINES[key]
    else:
        raise ValueError(
            f"unknown detector {name!r}; valid names: {', '.join(available_detectors())}"
        )
    valid = _param_names(cls)
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ValueError(
            f"unknown parameter(s) for {key}: {', '.join(unknown)}; "
            f"valid: {', '.join(sorted(valid))}"
        )
    return cls(**{**defaults, **params})


def _param_names(cls: type) -> set[str]:
    """Constructor argument names (PyOD's own helper is not a classmethod)."""
    sig = inspect.signature(cls.__init__)
    return {
        p.name
        for p in sig.parameters.values()
        if p.name != "self" and p.kind == p.POSITIONAL_OR_KEYWORD
    }
