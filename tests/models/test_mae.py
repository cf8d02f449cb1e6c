"""Masked autoencoder (Sec. 4.5, Eq. S1): shapes, masking, no leakage, learning, transfer."""

import pytest
import torch

from low2high.models.mae import MAEConfig, MaskedAutoencoder, sincos_position_embedding
from low2high.models.unet import UNet, UNetConfig


def small_config(**changes) -> MAEConfig:
    values = dict(in_channels=4, image_size=64, patch_size=16, width=8, embed_dim=32, depth=2,
                  num_heads=4, decoder_dim=32, decoder_depth=1)
    values.update(changes)
    return MAEConfig(**values)


def make_mae(**changes) -> MaskedAutoencoder:
    torch.manual_seed(0)
    return MaskedAutoencoder(small_config(**changes))


def images(batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 4, 64, 64, generator=torch.Generator().manual_seed(seed))


def test_forward_shapes_and_mask_ratio():
    mae = make_mae()
    loss, prediction, mask = mae(images(3), generator=torch.Generator().manual_seed(1))
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert prediction.shape == (3, 4, 64, 64)
    assert mask.shape == (3, 16)
    assert mask.sum(dim=1).tolist() == [12.0, 12.0, 12.0]  # 75 % of 16 patches
    _, _, half = mae(images(3), mask_ratio=0.5)
    assert half.sum(dim=1).tolist() == [8.0, 8.0, 8.0]


def test_masks_differ_between_samples_and_follow_the_generator():
    mae = make_mae()
    _, first, _ = mae.random_masking(4, generator=torch.Generator().manual_seed(3))
    _, again, _ = mae.random_masking(4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    assert len({tuple(row.tolist()) for row in first}) > 1


def test_patchify_round_trip():
    mae = make_mae()
    x = images()
    patches = mae.patchify(x)
    assert patches.shape == (2, 16, 4, 16, 16)
    assert torch.equal(patches[0, 1], x[0, :, 0:16, 16:32])  # row-major patch order
    assert torch.equal(mae.unpatchify(patches), x)


@pytest.mark.parametrize("training", [True, False])
def test_masked_pixels_do_not_leak_into_visible_tokens(training):
    mae = make_mae().train(training)
    x = images(2)
    ids_keep, mask, _ = mae.random_masking(2, generator=torch.Generator().manual_seed(5))
    changed = x.clone()
    g, p = 4, 16
    for b in range(2):
        for index in mask[b].nonzero().flatten().tolist():
            row, col = divmod(index, g)
            changed[b, :, row * p:(row + 1) * p, col * p:(col + 1) * p] = 100.0
    assert not torch.equal(changed, x)
    with torch.no_grad():
        reference = mae.forward_encoder(x, ids_keep)
        altered = mae.forward_encoder(changed, ids_keep)
    assert torch.equal(reference, altered)


def test_loss_counts_masked_patches_only():
    mae = make_mae()
    x = images(1)
    prediction = mae.patchify(x).clone()
    mask = torch.zeros(1, 16)
    mask[0, :4] = 1
    prediction[0, 10] += 1.0  # error in a visible patch: ignored
    assert mae.forward_loss(x, prediction, mask).item() == 0.0
    prediction[0, 2] += 2.0  # error of 4 in one of the 4 masked patches
    assert mae.forward_loss(x, prediction, mask).item() == pytest.approx(1.0)


def test_loss_decreases_with_a_few_adam_steps():
    mae = make_mae(depth=1)
    # Smooth images with a per-band offset: masked patches are predictable from visible ones.
    coarse = torch.rand(4, 4, 2, 2, generator=torch.Generator().manual_seed(0))
    x = torch.nn.functional.interpolate(coarse, size=(64, 64), mode="bilinear") + 1.0
    optimizer = torch.optim.Adam(mae.parameters(), lr=2e-3)
    losses = []
    for _ in range(15):
        loss, _, _ = mae(x, generator=torch.Generator().manual_seed(0))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0], losses


def test_norm_pix_loss_variant_runs():
    mae = make_mae(norm_pix_loss=True)
    loss, prediction, _ = mae(images())
    assert torch.isfinite(loss) and prediction.shape == (2, 4, 64, 64)
    composite = mae.reconstruct(images())
    assert composite.shape == (2, 4, 64, 64)


def test_reconstruct_keeps_visible_patches_and_mode():
    mae = make_mae().train()
    x = images()
    parts = mae.reconstruct_parts(x, generator=torch.Generator().manual_seed(2))
    assert mae.training
    visible = parts.mask == 0
    assert parts.mask.shape == (2, 1, 64, 64)
    assert parts.mask.mean().item() == pytest.approx(0.75)
    assert torch.equal(parts.composite.masked_select(visible.expand_as(x)),
                       x.masked_select(visible.expand_as(x)))
    assert torch.equal(parts.composite.masked_select(~visible.expand_as(x)),
                       parts.prediction.masked_select(~visible.expand_as(x)))
    assert (parts.masked.masked_select(~visible.expand_as(x)) == 0).all()


def test_encoder_weights_transfer_to_the_unet():
    mae = make_mae(in_channels=4, width=8)
    unet = UNet(UNetConfig(in_channels=4, num_classes=4, width=8))
    unet.encoder.load_state_dict(mae.encoder_state_dict())
    for key, value in mae.patch_encoder.state_dict().items():
        assert torch.equal(unet.encoder.state_dict()[key], value)


def test_paper_scale_config_builds():
    mae = MaskedAutoencoder(MAEConfig())
    assert mae.config.num_patches == 64
    assert mae.upsample[0].in_channels == 4


def test_position_embedding_is_fixed_and_distinct():
    embedding = sincos_position_embedding(32, 4)
    assert embedding.shape == (16, 32)
    assert torch.unique(embedding, dim=0).shape[0] == 16
    assert "pos_embed" not in make_mae().state_dict()


@pytest.mark.parametrize(
    "changes", [dict(image_size=60), dict(patch_size=15, image_size=60), dict(embed_dim=30),
                dict(mask_ratio=1.0)])
def test_config_validation(changes):
    with pytest.raises(ValueError):
        small_config(**changes)


def test_wrong_image_size_is_rejected():
    with pytest.raises(ValueError, match="expects images"):
        make_mae()(torch.zeros(1, 4, 32, 32))
