"""evaluate-real: models and the Oracle scored on NAIP-like patches laid out as ../shared/data/wv_naip_dev."""
import numpy as np
import pytest
import torch
from helpers import make_raster, scene
from train_helpers import CHESAPEAKE, NLCD

from low2high.core.errors import Low2HighError
from low2high.models.card import ModelCard
from low2high.models.checkpoint import save_checkpoint
from low2high.models.config import UNetConfig
from low2high.models.unet import UNet
from low2high.train.benchmarks.real import RealConfig, evaluate_real, parse_rendered, real_scene, score, table
from low2high.train.cli import main
from low2high.train.data.priors import read_prior
from low2high.train.finetune.task import BUNDLED_NLCD_PRIOR


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Eight 256-px patches per flight with Chesapeake labels and 8 × 8 NLCD cells of 30 px."""
    root = tmp_path_factory.mktemp("shared")
    folder = root / "data" / "wv_naip_dev"
    folder.mkdir(parents=True)
    for index in range(8):
        image, classes = scene(256, 256, seed=index)
        stem = str(folder / f"wv_{index:02d}")
        make_raster(f"{stem}_naip.tif", image)
        make_raster(f"{stem}_naip_old.tif", np.clip(image.astype(int) + 40, 0, 255).astype(np.uint8))
        make_raster(f"{stem}_lc.tif", CHESAPEAKE[classes])
        cells = classes[:240:30, :240:30]
        make_raster(f"{stem}_nlcd.tif", NLCD[cells], pixel_size=30.0)
    return str(root)


def test_patches_are_cut_to_the_pixels_the_nlcd_covers_and_the_oracle_is_nlcd_itself(shared, tmp_path):
    patches = real_scene(shared, "naip")
    assert len(patches.images) == 8 and patches.images[0].shape == (4, 240, 240) and patches.nlcd[0].shape == (240, 240)
    torch.manual_seed(0)
    path = str(tmp_path / "m.pt")
    save_checkpoint(path, UNet(UNetConfig(4, 4, 8)), ModelCard())
    results = evaluate_real(RealConfig(checkpoints=[path], shared=shared))
    assert set(results) == {"real NAIP, 2014 flight", "real NAIP, earlier flight"}
    oracle = results["real NAIP, 2014 flight"]["Oracle (NLCD itself)"]
    assert 0 < oracle["macro_iou"] <= 1 and path in results["real NAIP, earlier flight"]
    assert "| real NAIP, 2014 flight | Oracle (NLCD itself) |" in table(results)
    probe = evaluate_real(RealConfig(checkpoints=[path], shared=shared, flights=["naip"], standardisation="tile"))
    assert f"{path} (fed tile statistics)" in probe["real NAIP, 2014 flight"]
    fed = evaluate_real(RealConfig(checkpoints=[path], shared=shared, flights=["naip"], standardisation="image"))
    assert fed["real NAIP, 2014 flight"][f"{path} (fed image statistics)"] != results["real NAIP, 2014 flight"][path]
    sieved = evaluate_real(RealConfig(checkpoints=[path], shared=shared, flights=["naip"], min_mapping_unit=100))
    assert f"{path} (unit 100 m²)" in sieved["real NAIP, 2014 flight"]
    carded = str(tmp_path / "carded.pt")
    save_checkpoint(carded, UNet(UNetConfig(4, 4, 8)), ModelCard(min_mapping_unit=100.0))
    as_segment = evaluate_real(RealConfig(checkpoints=[carded], shared=shared, flights=["naip"]))
    explicit = evaluate_real(RealConfig(checkpoints=[carded], shared=shared, flights=["naip"], min_mapping_unit=100))
    assert as_segment["real NAIP, 2014 flight"][carded] == explicit["real NAIP, 2014 flight"][f"{carded} (unit 100 m²)"]
    unsieved = evaluate_real(RealConfig(checkpoints=[carded], shared=shared, flights=["naip"], min_mapping_unit=0))
    assert unsieved["real NAIP, 2014 flight"][f"{carded} (unit 0 m²)"] != as_segment["real NAIP, 2014 flight"][carded]
    fused = evaluate_real(RealConfig(checkpoints=[path], shared=shared, flights=["naip"], prior_fusion=60))
    strong = fused["real NAIP, 2014 flight"][f"{path} (NLCD prior ^60)"]
    table_ = read_prior(BUNDLED_NLCD_PRIOR).table()
    prior_maps = [np.nan_to_num(table_[codes], nan=0.25).argmax(axis=-1) for codes in patches.codes]
    expected = score(prior_maps, patches.fine).summary()
    assert strong["macro_iou"] == pytest.approx(expected["macro_iou"], abs=0.01), "a strong prior draws its own map"
    assert strong != results["real NAIP, 2014 flight"][path]
    with pytest.raises(Low2HighError, match="prior-fusion"):
        evaluate_real(RealConfig(checkpoints=[path], shared=shared, flights=["naip"], prior_fusion=-1))
    with pytest.raises(Low2HighError, match="MIN_MAPPING_UNIT"):
        evaluate_real(RealConfig(checkpoints=[path], shared=shared, flights=["naip"], min_mapping_unit=-1))
    with pytest.raises(Low2HighError, match="auto, image, model, blend, tile"):
        evaluate_real(RealConfig(checkpoints=[path], shared=shared, standardisation="dataset"))


def test_bad_requests_are_sentences(shared, tmp_path, capsys):
    with pytest.raises(Low2HighError, match="Unknown flight"):
        real_scene(shared, "naip_2030")
    with pytest.raises(Low2HighError, match="--shared"):
        real_scene(str(tmp_path), "naip")
    assert parse_rendered("101:0.1") == (101, 0.1) and parse_rendered("5") == (5, 0.0)
    with pytest.raises(Low2HighError, match="SEED:FLIGHT_SHIFT"):
        parse_rendered("a:b")
    assert main(["evaluate-real", "--shared", shared, "--checkpoints", str(tmp_path / "none.pt")]) == 2
    assert "not found" in capsys.readouterr().err.lower()
