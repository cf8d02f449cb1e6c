"""Engine warnings reach QGIS as warnings (the log's warning style, qgis_process's WARNING), never as errors."""
from __future__ import annotations

from qgis.core import QgsProcessingFeedback

from low2high.algorithms.base import FeedbackProgress


class RecordingFeedback(QgsProcessingFeedback):
    """A real feedback that also remembers what went through which channel."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[str] = []
        self.errors: list[str] = []

    def pushWarning(self, warning: str) -> None:  # noqa: N802 (QGIS API)
        self.warnings.append(warning)
        super().pushWarning(warning)

    def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N802,N803 (QGIS API)
        self.errors.append(error)
        super().reportError(error, fatalError)


def test_a_warning_is_pushed_as_a_warning(qgis_app):
    feedback = RecordingFeedback()
    progress = FeedbackProgress(feedback)
    progress.warn("The raster's pixels are 2 m but the model was trained at 1 m.")
    assert feedback.warnings == ["The raster's pixels are 2 m but the model was trained at 1 m."]
    assert feedback.errors == []
    assert progress.warnings == feedback.warnings
