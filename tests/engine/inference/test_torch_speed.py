"""Folding batch norms into convolutions changes speed, not the network's function."""
import pytest


def test_folded_network_computes_the_same_logits():
    torch = pytest.importorskip("torch")
    from low2high.engine.inference.torch_speed import fold_batch_norms
    from low2high.models.unet import UNet, UNetConfig

    torch.manual_seed(0)
    model = UNet(UNetConfig(in_channels=4, num_classes=4, width=8))
    for module in model.modules():  # non-trivial running statistics, as after training
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = torch.randn(2, 4, 64, 96)
    with torch.no_grad():
        expected = model(x)
        folded = fold_batch_norms(model)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
        torch.testing.assert_close(folded(x), expected, atol=1e-4, rtol=1e-4)


def test_folding_refuses_a_training_network():
    torch = pytest.importorskip("torch")
    from low2high.engine.inference.torch_speed import fold_batch_norms

    with pytest.raises(ValueError):
        fold_batch_norms(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1), torch.nn.BatchNorm2d(1)))
