"""low2high_plugin/inference"""
