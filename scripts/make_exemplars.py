"""Regenerate the bundled 1 m label exemplars of ``low2high:finetune`` (``make exemplars``).

The adversarial term of fine-tuning needs examples of what real 1 m land-cover maps look like.
This cuts the "exemplars" band of rows 2880–3839 (the demo model's exemplar region, never its
training or test area) out of the real Chesapeake Conservancy land cover of Prince George's County
(``../shared/data/chesapeake_pg_county``) and remaps it with the product's own ``remap`` engine
(TAXONOMY=chesapeake) into resources/exemplars/chesapeake_merged.tif: merged classes, Byte,
DEFLATE-compressed (about 0.3 MB). From the same band it counts the bundled NLCD prior of the agg-dist losses,
resources/priors/nlcd_chesapeake.json: p(merged class | NLCD code) where the real labels and NLCD overlap
(``python -m low2high.train coarse-prior``); codes the band lacks (open water among them) keep their
Table S1 class.

usage: python scripts/make_exemplars.py [--shared ../shared] [--output resources/exemplars/chesapeake_merged.tif]
"""
from __future__ import annotations

import argparse
import os
import sys
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LABELS = os.path.join("data", "chesapeake_pg_county", "pg_county_north_lc.tif")
NLCD = os.path.join("data", "chesapeake_pg_county", "pg_county_north_nlcd.tif")
WINDOW = (0, 2880, 6156, 960)  # col, row, width, height: the exemplar band of the paper benchmark


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(ROOT), "shared"))
    parser.add_argument("--output", default=os.path.join(ROOT, "resources", "exemplars", "chesapeake_merged.tif"))
    args = parser.parse_args()
    from osgeo import gdal

    from low2high.engine.labels.remap import RemapRequest, remap

    window = f"/vsimem/exemplars-{uuid.uuid4().hex}.vrt"
    gdal.Translate(window, os.path.join(args.shared, LABELS), options=gdal.TranslateOptions(format="VRT",
                                                                                            srcWin=list(WINDOW)))
    try:
        result = remap(RemapRequest(window, os.path.abspath(args.output), taxonomy="chesapeake", strict=True))
    finally:
        gdal.Unlink(window)
    shares = ", ".join(f"{name} {share:.1%}" for name, share in result.class_shares().items())
    print(f"{result.output_path}: {os.path.getsize(result.output_path) / 1e6:.2f} MB, {shares}")
    prior = os.path.join(os.path.dirname(os.path.abspath(args.output)), os.pardir, "priors", "nlcd_chesapeake.json")
    from low2high.train.cli import main as train

    col, row, width, height = WINDOW
    return train(["coarse-prior", "--fine-labels", os.path.join(args.shared, LABELS), "--coarse-labels",
                  os.path.join(args.shared, NLCD), "--region", f"pixels:{col},{row},{width},{height}",
                  "--output", os.path.normpath(prior), "--fill-missing", "true"])


if __name__ == "__main__":
    sys.exit(main())
