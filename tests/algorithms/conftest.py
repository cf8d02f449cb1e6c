"""Fixtures for tests that run inside QGIS (pytest-qgis): the Low2High provider, registered."""
import pytest


@pytest.fixture
def low2high_provider(qgis_app, qgis_processing):
    """Load the plugin as QGIS does (classFactory, initProcessing) and unload it afterwards."""
    from qgis.core import QgsApplication

    from low2high import classFactory

    plugin = classFactory(None)
    plugin.initProcessing()
    yield QgsApplication.processingRegistry().providerById("low2high")
    plugin.unload()
    assert QgsApplication.processingRegistry().providerById("low2high") is None
