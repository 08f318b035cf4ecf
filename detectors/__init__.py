"""kdmon detectors: pure ML (numpy / torch / PyOD in, scores out).

Public API used by the app, the jobs and the benchmarks::

    create_detector(name, **params)    # "stkd" or a PyOD baseline name
    available_detectors()              # list of names
    save_detector(detector, directory) / load_detector(directory, expected_sha256=None)
    detector_checksum(directory)       # sha256 to record in the database
    explain(detector, X)               # (n, d) per-feature contribution shares
    score_and_explain(detector, X)     # scores and those shares, sharing the work where it can
"""

from detectors.explain import explain, score_and_explain
from detectors.persistence import detector_checksum, load_detector, save_detector
from detectors.registry import available_detectors, create_detector
from detectors.stkd import STKDDetector

__all__ = [
    "STKDDetector",
    "available_detectors",
    "create_detector",
    "detector_checksum",
    "explain",
    "load_detector",
    "save_detector",
    "score_and_explain",
]
