"""train/commands"""
