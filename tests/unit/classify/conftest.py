from __future__ import annotations

import pytest

from complaintdesk.classify.base import Classifier, default_classifier


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    """The packaged model under the emergency rules (what the product uses)."""
    return default_classifier()
