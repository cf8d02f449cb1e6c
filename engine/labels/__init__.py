"""Class rasters: the merged classes, taxonomies, remapping, and coarse labels aligned to the
n × n block grid of an image.
"""
