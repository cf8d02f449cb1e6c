"""train/fit"""
