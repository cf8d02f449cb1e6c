"""Segment many rasters as one job on a Dask cluster: resumable, every map published atomically.

``segment-many`` (``python -m low2high segment-many``, ``low2high:segmentmany``) maps each raster
exactly as ``segment`` maps it alone; this package only plans the job (:mod:`.inputs`), records it
(:mod:`.manifest`, :mod:`.folder_lock`), spreads it over Dask workers (:mod:`.cluster`,
:mod:`.worker`) and writes the mosaic and the summary at the end (:mod:`.summary`).
Dask is imported only when a job starts, so the plugin loads without it.
"""
