"""Mix-KD: clean and noise-augmented students of one teacher, fused per batch by entropy."""

from detectors.mix_kd.detector import MixKDDetector

__all__ = ["MixKDDetector"]
