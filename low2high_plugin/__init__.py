"""The QGIS glue: the plugin object QGIS loads and the Processing provider that lists the algorithms.

The only package besides ``algorithms/`` (and the entry point, ``__init__.py``) that imports QGIS;
the work itself is in ``engine/``, ``train/``, ``models/`` and ``core/``, which run without it.
"""
