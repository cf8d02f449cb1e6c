"""train/scoring"""
