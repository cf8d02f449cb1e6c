"""The engine of Low2High: what the plugin and the trainer do with rasters, without QGIS.

Raster I/O and grids (geo), class rasters (labels), tiled inference (inference) and metrics
(evaluation). Nothing here imports QGIS: the same code serves QGIS, ``qgis_process``, tests and the
training module (torch and onnxruntime are imported inside the functions that need them).
"""
