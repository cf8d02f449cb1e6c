"""The segment run: predictors (torch / ONNX Runtime, precisions), tiling, blending, the pipeline,
and the speed benchmark (`make bench`).
"""
