"""Deepness-style ONNX models made by code: a small torch network with Deepness's metadata only.

What a model from Deepness's zoo looks like to Low2High (no Low2High description): a fixed square
input of ``size`` pixels with a dynamic batch, an input name of its own, one output, and the JSON
metadata keys Deepness documents.
"""
from __future__ import annotations

import io
import json
import warnings
from typing import Any, Optional

#: Deepness metadata of the models below unless a test changes it.
METADATA = {"model_type": "Segmentor", "class_names": {"0": "background", "1": "trees", "2": "crops", "3": "roofs"},
            "resolution": 100, "tiles_overlap": 10, "standardization_mean": [0.45, 0.42, 0.40],
            "standardization_std": [0.25, 0.24, 0.26], "seg_thresh": 0.5, "seg_small_segment": 0}


#: Mean colours (red, green, blue) of the four classes of ``helpers.scene``.
SCENE_COLOURS = ((40, 60, 110), (50, 100, 50), (150, 190, 110), (170, 160, 150))


def rgb_network(sharpness: float = 1.0, mean=METADATA["standardization_mean"],
                std=METADATA["standardization_std"], softmax: bool = True) -> Any:
    """A 3-band network that tells ``helpers.scene``'s classes apart: a 3 × 3 mean filter, then the
    nearest class colour (in the standardised units the metadata states) as logits, times
    ``sharpness``, then softmax. Where patches meet, no class is sure, so the threshold decides there.
    """
    import torch

    centres = (torch.tensor(SCENE_COLOURS, dtype=torch.float32) / 255 - torch.tensor(mean)) / torch.tensor(std)
    smooth = torch.nn.Conv2d(3, 3, 3, padding=1, bias=False)
    nearest = torch.nn.Conv2d(3, len(SCENE_COLOURS), 1)
    with torch.no_grad():
        smooth.weight.zero_()
        for band in range(3):
            smooth.weight[band, band] = 1 / 9
        nearest.weight.copy_(2 * sharpness * centres[:, :, None, None])  # -|x - c|² + |x|² = 2 x·c - |c|²
        nearest.bias.copy_(-sharpness * (centres ** 2).sum(dim=1))
    head = [torch.nn.Softmax(dim=1)] if softmax else []
    return torch.nn.Sequential(smooth, nearest, *head).eval()


def deepness_model(path: str, network: Any = None, size: int = 256, metadata: Optional[dict] = None,
                   bands: int = 3, input_name: str = "image", fixed_batch: bool = False) -> str:
    """Export ``network`` (default :func:`rgb_network`) at a fixed ``size`` with Deepness metadata."""
    import onnx
    import torch

    network = rgb_network() if network is None else network
    buffer = io.BytesIO()
    axes = {} if fixed_batch else {input_name: {0: "batch"}, "scores": {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(network, (torch.zeros(1, bands, size, size),), buffer, input_names=[input_name],
                          output_names=["scores"], dynamic_axes=axes, opset_version=17, dynamo=False)
    model = onnx.load_from_string(buffer.getvalue())
    for key, value in (METADATA if metadata is None else metadata).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
    onnx.save(model, path)
    return path
