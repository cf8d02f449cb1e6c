"""export publishes the .onnx only once it matches PyTorch (issue 18's sweep).

It wrote the file in place, then verified: an export off by more than --atol ended rc 2 with the
unverified file already published over the previous one.
"""
import os

from low2high.train.cli import main


def test_an_export_that_fails_verification_leaves_the_previous_file(tiny_models, folder, capsys):
    target = os.path.join(folder, "model.onnx")
    with open(target, "w", encoding="utf-8") as handle:
        handle.write("the previous export")
    assert main(["export", "--checkpoint", tiny_models[0], "--output", target, "--atol", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {target}: ONNX output differs from PyTorch by up to ")
    assert "nothing was written (an earlier model.onnx stays as it was). Give a larger --atol" in err
    assert open(target, encoding="utf-8").read() == "the previous export"
    assert sorted(os.listdir(folder)) == ["model.onnx"]
    assert main(["export", "--checkpoint", tiny_models[0], "--output", target]) == 0
    assert os.path.getsize(target) > 1000 and sorted(os.listdir(folder)) == ["model.onnx"]
