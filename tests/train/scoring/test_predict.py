"""The region-aggregated prediction used to select agg models (argmax of cell-summed logits)."""
import numpy as np
import torch

from low2high.train.scoring.predict import aggregated_classes


def test_aggregated_classes_sum_valid_logits_per_cell():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 4, 6, 9)).astype(np.float32)
    valid = rng.random((2, 6, 9)) > 0.3
    valid[1, :3, :3] = False  # one cell without data
    got = aggregated_classes(torch.from_numpy(logits), torch.from_numpy(valid), 3).numpy()
    for b in range(2):
        for i in range(2):
            for j in range(3):
                cell = (slice(3 * i, 3 * i + 3), slice(3 * j, 3 * j + 3))
                if not valid[b][cell].any():
                    assert got[b, i, j] == 255
                    continue
                sums = (logits[b][(slice(None),) + cell] * valid[b][cell]).sum(axis=(1, 2))
                assert got[b, i, j] == np.argmax(sums)
