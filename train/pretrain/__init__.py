"""train/pretrain"""
