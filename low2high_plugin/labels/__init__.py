"""low2high_plugin/labels"""
