"""low2high_plugin/geo"""
