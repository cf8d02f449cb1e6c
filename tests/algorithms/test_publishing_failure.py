"""A disk that fills while a run's outputs are renamed into place: one sentence, nothing half-published.

evaluate writes a CSV table and an HTML report; the disk refuses the report's rename (ENOSPC from
os.replace, the OS boundary) after the table's went through. The table is taken back, the user's
earlier table stays, and QGIS shows the sentence, not an OSError traceback.
"""
import os

import numpy as np
import pytest
from helpers import make_raster


def test_evaluate_with_a_full_disk_publishes_neither_report(low2high_provider, folder, monkeypatch):
    import processing
    from qgis.core import QgsProcessingException

    labels = make_raster(os.path.join(folder, "labels.tif"), np.ones((10, 10), np.uint8), nodata=255)
    table, report = os.path.join(folder, "scores.csv"), os.path.join(folder, "scores.html")
    with open(table, "w", encoding="utf-8") as handle:
        handle.write("the previous run's table")
    replace = os.replace

    def disk_full_for_the_report(source, destination, **kwargs):
        if os.fspath(destination) == report:
            raise OSError(28, "No space left on device")
        return replace(source, destination, **kwargs)

    monkeypatch.setattr(os, "replace", disk_full_for_the_report)
    with pytest.raises(QgsProcessingException) as raised:
        processing.run("low2high:evaluate", {"PREDICTION": labels, "REFERENCE": labels, "OUTPUT_TABLE": table,
                                             "OUTPUT_HTML": report})
    monkeypatch.undo()
    assert str(raised.value) == (f"Could not put the output {report} in place (No space left on device); nothing "
                                 "of this run was published and earlier files are as they were. Free some space on "
                                 f"the disk of {folder} or choose another folder, then run again.")
    assert open(table, encoding="utf-8").read() == "the previous run's table"
    assert sorted(os.listdir(folder)) == ["labels.tif", "scores.csv"]
