"""Text -> labels (nature, category, urgency, department, confidence).

Pure and batch-first. The intake only knows the :class:`Classifier` protocol; which
implementation serves it is decided by :func:`default_classifier`.
"""

from complaintdesk.classify.base import Classifier, Prediction, default_classifier

__all__ = ["Classifier", "Prediction", "default_classifier"]
