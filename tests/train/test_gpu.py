"""CUDA paths: bfloat16 autocast training, channels-last, real out-of-memory errors (skipped without a GPU)."""
import pytest
import torch
from train_helpers import fit_settings

from low2high.core.errors import Low2HighError
from low2high.models.checkpoint import load_checkpoint
from low2high.train.data.datasets import ChipDataset
from low2high.train.fit.config import FitConfig
from low2high.train.fit.task import fit
from low2high.train.runner.runtime import out_of_memory_advice
from low2high.train.scoring.predict import predict_chips

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.mark.parametrize("mode", ["agg+adv", "pixel"])
def test_fit_on_the_gpu_with_bf16(mode, chip_dataset, tmp_path):
    result = fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "run"), mode=mode, device="cuda", amp=True,
                                          width=16, epochs=2, num_workers=2)))
    record = result.history[-1]
    assert record["train_loss"] == record["train_loss"] and record["chips_per_s"] > 0  # finite
    assert load_checkpoint(result.best_path).card.training["device"] == "cuda"


def test_gpu_and_cpu_predictions_agree(chip_dataset, tmp_path):
    result = fit(FitConfig(**fit_settings(chip_dataset, str(tmp_path / "run"), mode="low", device="cuda", width=16)))
    loaded = load_checkpoint(result.best_path)
    dataset = ChipDataset(chip_dataset, ["val"], require=None)
    cpu = next(predict_chips(loaded.build_model("cpu"), dataset, amp=False))[1]
    gpu = next(predict_chips(loaded.build_model("cuda"), dataset, amp=False))[1]
    assert (cpu == gpu).mean() > 0.99


def test_a_real_out_of_memory_error_names_the_batch_size():
    with pytest.raises(Low2HighError, match="batch size of 64.*--batch-size 32"):
        with out_of_memory_advice(64):
            torch.empty(2 ** 50, device="cuda")  # a petabyte
    torch.cuda.empty_cache()
