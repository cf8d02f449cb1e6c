"""The paper-tables benchmark's plumbing (the benchmark itself is a command, not a test)."""
import pytest

from low2high.core.errors import Low2HighError
from low2high.core.progress import SilentProgress
from low2high.train.benchmarks.paper import BenchmarkConfig, benchmark, gap_closed, table


def test_presets_and_explicit_values():
    assert BenchmarkConfig(quick=True).preset()["width"] == 16
    assert BenchmarkConfig().preset()["lr"] == 1e-4  # the paper's
    assert BenchmarkConfig(quick=True, epochs=3).preset()["epochs"] == 3


def _row(miou):
    return {"metrics": {"accuracy": miou, "macro_f1": miou, "macro_iou": miou}, "budget": "2 epochs, 10 chips"}


def test_gap_closed_and_table():
    rows = {"oracle": _row(0.3), "low": _row(0.5), "high": _row(0.9), "agg+adv": _row(0.7)}
    assert gap_closed(rows) == pytest.approx({"agg+adv": 0.5})
    text = table({"budget": BenchmarkConfig(quick=True).preset(), "quick": True, "rows": rows,
                  "gap_closed": gap_closed(rows), "seconds": 60.0})
    assert "| Agg+Adv | 70.00 | 70.00 | 70.00 | — | 2 epochs, 10 chips | 87.43 / 81.12 / 69.84 |" in text
    assert "closes 50.0 %" in text


def test_missing_shared_data_and_unknown_rows_are_clear_errors(tmp_path):
    with pytest.raises(Low2HighError, match="--shared"):
        benchmark(BenchmarkConfig(quick=True, work=str(tmp_path), shared=str(tmp_path / "nothing")), SilentProgress())
    with pytest.raises(Low2HighError, match="Unknown benchmark row"):
        benchmark(BenchmarkConfig(quick=True, work=str(tmp_path), rows=["best"]), SilentProgress())


def test_seeds_zero_is_refused_with_a_sentence(tmp_path):
    with pytest.raises(Low2HighError, match="--seeds must be at least 1"):
        benchmark(BenchmarkConfig(quick=True, work=str(tmp_path), seeds=0), SilentProgress())


def test_mean_and_sample_sd_over_seeds_in_the_table():
    from low2high.train.benchmarks.paper import mean_of, sd_of

    runs = [{"accuracy": 0.5, "macro_f1": 0.4, "macro_iou": 0.3}, {"accuracy": 0.7, "macro_f1": 0.6, "macro_iou": 0.5}]
    assert mean_of(runs)["macro_iou"] == pytest.approx(0.4) and sd_of(runs)["macro_iou"] == pytest.approx(0.1414, 1e-3)
    assert sd_of(runs[:1])["macro_iou"] == 0.0
    row = {"metrics": mean_of(runs), "sd": sd_of(runs), "budget": "2 epochs, 10 chips",
           "real": {"naip": mean_of(runs), "naip_old": runs[0]}, "real_sd": {"naip": sd_of(runs)}}
    text = table({"budget": BenchmarkConfig(quick=True).preset(), "quick": True, "rows": {"agg-dist+adv": row},
                  "gap_closed": {}, "seconds": 60.0, "seeds": 2, "ema": 0.99, "select": "last"})
    assert "| Agg-Dist+Adv (ours) | 60.00 ± 14.14 | 50.00 ± 14.14 | 40.00 ± 14.14 | 40.00 ± 14.14 / 30.00 |" in text
    assert "mean ± sd over 2 training seeds" in text and "EMA 0.99" in text


@pytest.mark.parametrize("flags,message", [
    (["--epochs", "0"], "--epochs must be at least 1 (got 0)"),
    (["--width", "-4"], "--width must be at least 1 (got -4)"),
    (["--lr", "0"], "--lr must be positive (got 0.0)"),
    (["--select", "first"], "--select must be best or last"),
])
def test_settings_no_row_can_train_with_are_refused_before_rendering(tmp_path, capsys, flags, message):
    """`benchmark --epochs 0` failed with a ValueError after 100 s of rendering; now nothing is made."""
    from low2high.train.cli import main

    work = tmp_path / "work"
    assert main(["benchmark", "--quick", "--work", str(work), "--shared", str(tmp_path / "absent"), *flags]) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not work.exists()
