"""low2high_plugin/evaluation"""
