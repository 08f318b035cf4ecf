"""xTime: extreme-event forecasting with hierarchical KD across rarity levels (see README.md)."""

from detectors.xtime.detector import XTimeDetector

__all__ = ["XTimeDetector"]
