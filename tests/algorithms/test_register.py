"""low2high.register(): the one-call registration a standalone PyQGIS script uses."""
import gc

from qgis.core import QgsApplication


def test_register_keeps_the_algorithms_found_after_the_script_drops_its_reference(qgis_app, qgis_processing):
    import low2high

    registry = QgsApplication.processingRegistry()
    try:
        low2high.register()  # the result is dropped, as a script that ignores it would
        gc.collect()
        assert registry.algorithmById("low2high:segment") is not None
        assert low2high.register() is registry.providerById("low2high")  # idempotent: no second provider
        assert len([p for p in registry.providers() if p.id() == "low2high"]) == 1
    finally:
        low2high.unregister()
    assert registry.providerById("low2high") is None
    assert registry.algorithmById("low2high:segment") is None


def test_register_returns_the_plugins_provider_and_leaves_it_to_the_plugin(low2high_provider):
    import low2high

    assert low2high.register() is low2high_provider
    low2high.unregister()  # not register()'s provider: stays until the plugin unloads it
    assert QgsApplication.processingRegistry().providerById("low2high") is low2high_provider
