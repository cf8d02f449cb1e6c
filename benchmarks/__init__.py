"""Development harnesses: speed benchmarks of segment and segment-many, run from a checkout (``make bench``,
``make bench-many``).

Kept out of the plugin zip (scripts/package.py lists what ships) and out of ``pip install``: they
write under the checkout's ``.build/`` and measure; a QGIS user runs none of them.
"""
