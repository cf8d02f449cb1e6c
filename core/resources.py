"""Where the package's bundled files live: the one definition of the ``resources/`` path.

The package root is the plugin folder (an installed plugin, a checkout, or site-packages after
``pip install .``); ``resources/`` beside ``__init__.py`` holds icons, taxonomies, styles, help
texts, the demo model and the sample data.
"""
from __future__ import annotations

import os

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESOURCES = os.path.join(PACKAGE_ROOT, "resources")


def resource_path(*parts: str) -> str:
    """The path of a bundled file, e.g. ``resource_path("models", "demo.pt")``."""
    return os.path.join(RESOURCES, *parts)
