"""STKD: self-training + knowledge distillation anomaly detection (see README.md here)."""

from detectors.stkd.detector import STKDDetector

__all__ = ["STKDDetector"]
