"""The head at half resolution computes the U-Net's logits: interior and the clamped/padded borders alike."""
import pytest

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("shape", [(2, 4, 64, 96), (1, 4, 160, 32), (1, 4, 32, 32)])
def test_phase_head_gives_the_networks_logits(shape):
    from low2high.engine.inference.phase_head import with_phase_head
    from low2high.models.unet import UNet, UNetConfig

    torch.manual_seed(0)
    model = UNet(UNetConfig(in_channels=4, num_classes=4, width=8)).eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        expected = model(x)
        actual = with_phase_head(model)(x)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-4)
    # every output row and column, the outer two on each side included
    assert (actual - expected).abs().amax(dim=(0, 1, 3)).max() < 1e-5
    assert (actual - expected).abs().amax(dim=(0, 1, 2)).max() < 1e-5


def test_a_network_without_a_unet_head_is_left_as_it_is():
    from low2high.engine.inference.phase_head import with_phase_head

    network = torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3, padding=1))
    assert with_phase_head(network) is network
