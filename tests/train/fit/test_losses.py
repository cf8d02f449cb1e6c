"""Training losses against hand computations: Eq. 1, upsampled and fine cross entropy, hinge losses."""
import math

import pytest
import torch

from low2high.train.fit.losses import (
    aggregated_cross_entropy,
    cross_entropy,
    d_hinge_loss,
    g_hinge_loss,
    upsample_coarse,
    upsampled_cross_entropy,
)


def test_eq1_sums_each_block_then_takes_the_cross_entropy_of_the_coarse_label():
    # 2 classes, a 4 x 4 prediction, 2 x 2 cells: cell (0, 0) sums 1 + 2 + 3 + 4 for class 0 and 0 for class 1.
    logits = torch.zeros(1, 2, 4, 4)
    logits[0, 0, :2, :2] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # cell (0, 0): class 0 sum 10
    logits[0, 1, :2, 2:] = 0.5  # cell (0, 1): class 1 sum 2
    logits[0, 1, 2:, :2] = -0.25  # cell (1, 0): class 1 sum -1
    coarse = torch.tensor([[[1, 1], [0, 255]]])  # cell (1, 1) is ignored
    expected = [
        -math.log(math.exp(0) / (math.exp(10) + math.exp(0))),  # cell (0, 0): label 1, aggregated (10, 0)
        -math.log(math.exp(2) / (math.exp(0) + math.exp(2))),  # cell (0, 1): label 1, aggregated (0, 2)
        -math.log(math.exp(0) / (math.exp(0) + math.exp(-1))),  # cell (1, 0): label 0, aggregated (0, -1)
    ]
    loss = aggregated_cross_entropy(logits, coarse, 2)
    assert loss.item() == pytest.approx(sum(expected) / 3, rel=1e-6)
    # The mean variant divides each aggregated logit by n² = 4.
    mean = [-math.log(1 / (math.exp(2.5) + 1)), -math.log(math.exp(0.5) / (1 + math.exp(0.5))),
            -math.log(1 / (1 + math.exp(-0.25)))]
    assert aggregated_cross_entropy(logits, coarse, 2, mean=True).item() == pytest.approx(sum(mean) / 3, rel=1e-6)


def test_eq1_gradient_reaches_every_pixel_of_a_cell():
    logits = torch.randn(2, 4, 6, 6, requires_grad=True)
    aggregated_cross_entropy(logits, torch.randint(0, 4, (2, 2, 2)), 3).backward()
    blocks = logits.grad.reshape(2, 4, 2, 3, 2, 3)
    # Every pixel of a cell gets the same gradient (the sum's derivative is 1 for each term).
    assert torch.allclose(blocks, blocks[:, :, :, :1, :, :1].expand_as(blocks))


def test_upsampled_and_fine_cross_entropy_ignore_255():
    logits = torch.randn(1, 3, 4, 4)
    coarse = torch.tensor([[[2, 255], [0, 1]]])
    upsampled = upsample_coarse(coarse, 2)
    assert upsampled.shape == (1, 4, 4) and (upsampled[0, :2, 2:] == 255).all() and (upsampled[0, 2:, :2] == 0).all()
    kept = upsampled != 255
    log_probabilities = torch.log_softmax(logits, dim=1)
    picked = log_probabilities.gather(1, upsampled.clamp(max=2)[:, None])[:, 0]
    expected = -(picked[kept]).mean()
    assert upsampled_cross_entropy(logits, coarse, 2).item() == pytest.approx(expected.item(), rel=1e-6)
    assert cross_entropy(logits, upsampled).item() == pytest.approx(expected.item(), rel=1e-6)


def test_a_batch_without_labels_gives_zero_not_nan():
    logits = torch.randn(1, 4, 4, 4, requires_grad=True)
    loss = aggregated_cross_entropy(logits, torch.full((1, 2, 2), 255), 2)
    loss.backward()
    assert loss.item() == 0 and torch.isfinite(logits.grad).all()


def test_hinge_losses():
    real, fake = torch.tensor([[2.0], [0.5]]), torch.tensor([[-3.0], [0.0]])
    # D: relu(1 - real) = (0, 0.5) → 0.25; relu(1 + fake) = (0, 1) → 0.5.
    assert d_hinge_loss(real, fake).item() == pytest.approx(0.75)
    assert g_hinge_loss(fake).item() == pytest.approx(1.5)
