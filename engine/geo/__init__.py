"""Grids and windows, GDAL raster I/O, views on other grids, resampling, polygon masks, and GDAL's
process state (gdal_scope: error mode and cache, set only while we work).
"""
