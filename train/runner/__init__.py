"""train/runner"""
