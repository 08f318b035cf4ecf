"""Fed-PSE: federated detectors with personalized semantics excitation (see README.md)."""

from detectors.pse.detector import FedPSEDetector

__all__ = ["FedPSEDetector"]
