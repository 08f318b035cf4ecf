"""Beta-KD: uncertainty-weighted distillation of a heavy detector into a small student."""

from detectors.beta_kd.detector import BetaKDDetector

__all__ = ["BetaKDDetector"]
