"""OUTPUT_PLOT's loss panel shows the losses although they are logged on every other record only."""
import math

from low2high.train.finetune.plot import loss_series, plot_finetune

# as the fine-tuning loop logs them: training losses on some records, validation figures on others
HISTORY = [{"step": 1, "train_loss": 0.9}, {"step": 2, "val_macro_iou": 0.5, "val_accuracy": 0.7},
           {"step": 3, "train_loss": 0.7, "train_adv": 0.2}, {"step": 4, "train_loss": math.nan,
                                                             "val_macro_iou": 0.6, "val_accuracy": 0.8},
           {"step": 5, "train_loss": 0.5}]


def test_losses_are_drawn_from_the_points_that_exist():
    assert loss_series(HISTORY) == {"loss": ([1, 3, 5], [0.9, 0.7, 0.5]), "adv": ([3], [0.2])}


def test_the_loss_panel_holds_those_points(tmp_path, monkeypatch):
    import low2high.train.finetune.plot as plot

    drawn = {}
    monkeypatch.setattr(plot, "_save", lambda figure, path: drawn.update(figure=figure))
    plot_finetune(str(tmp_path / "curve.png"), HISTORY, 4, "test")
    lines = {line.get_label(): line for line in drawn["figure"].axes[0].lines if not line.get_label().startswith("_")}
    assert list(lines["loss"].get_xdata()) == [1, 3, 5] and lines["loss"].get_marker() == "o"
    assert list(lines["loss"].get_ydata()) == [0.9, 0.7, 0.5]
