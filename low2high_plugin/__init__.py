"""The engine of Low2High: everything the plugin does, without QGIS.

Only ``plugin.py`` and ``provider.py`` in this package import QGIS; every other module runs in a
plain Python with GDAL and NumPy (torch and onnxruntime are imported inside the functions that
need them), so the same code serves QGIS, ``qgis_process``, tests and the training module.
"""
