"""Region aggregation converges at the paper's learning rate despite its large summed logits.

Summing n x n logits makes the aggregated logits (and the initial loss) n² times larger than a
pixel's, and every pixel of a cell gets the whole cell's gradient (the issue's warning). Adam
normalises the step size, so at lr 1e-4 (the paper's) the loss must still fall steadily and the
maps must come to agree with the coarse labels; this checks it on a toy scene where they can.
"""
import math

from train_helpers import fit_settings

from low2high.train.fit.config import FitConfig
from low2high.train.fit.task import fit


def test_agg_converges_at_lr_1e_4(chip_dataset, tmp_path):
    result = fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "agg"), mode="agg", lr=1e-4, epochs=16,
                                          batch_size=2, augment=False)))
    losses = [record["train_loss"] for record in result.history]
    accuracy = [record["val_coarse_accuracy"] for record in result.history]
    print("\nagg at lr 1e-4, epoch losses:", ", ".join(f"{loss:.3f}" for loss in losses),
          "\nvalidation coarse accuracy:", ", ".join(f"{value:.3f}" for value in accuracy))
    assert losses[0] > math.log(4)  # the summed logits start far from a uniform prediction
    assert all(later < earlier * 1.05 for earlier, later in zip(losses, losses[1:]))  # falls steadily
    assert losses[-1] < 0.5 * losses[0]
    assert max(accuracy) > 0.85 and accuracy[0] < 0.5
