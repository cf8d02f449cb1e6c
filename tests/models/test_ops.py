"""Region aggregation (Sec. 4.3), soft argmax (Eq. 3) and Gaussian blur (Sec. 4.6)."""

import numpy as np
import pytest
import torch

from low2high.models.ops import gaussian_blur, region_aggregate, soft_argmax


def numpy_region_sum(x: np.ndarray, n: int) -> np.ndarray:
    b, c, h, w = x.shape
    out = np.zeros((b, c, h // n, w // n), dtype=np.float64)
    for i in range(h // n):
        for j in range(w // n):
            out[:, :, i, j] = x[:, :, i * n:(i + 1) * n, j * n:(j + 1) * n].sum(axis=(2, 3))
    return out


@pytest.mark.parametrize("factor", [1, 3, 5])
def test_region_aggregate_matches_numpy(factor):
    x = np.random.default_rng(factor).normal(size=(2, 4, 15, 30))
    result = region_aggregate(torch.from_numpy(x), factor)
    assert result.shape == (2, 4, 15 // factor, 30 // factor)
    np.testing.assert_allclose(result.numpy(), numpy_region_sum(x, factor), rtol=1e-12)


def test_region_aggregate_rejects_bad_factors():
    with pytest.raises(ValueError, match="multiples"):
        region_aggregate(torch.zeros(1, 2, 10, 12), 4)
    with pytest.raises(ValueError, match="positive integer"):
        region_aggregate(torch.zeros(1, 2, 10, 10), 0)


def test_region_aggregate_is_differentiable():
    x = torch.randn(1, 3, 4, 4, requires_grad=True)
    region_aggregate(x, 2).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_soft_argmax_approximates_argmax_with_gradients():
    generator = torch.Generator().manual_seed(0)
    classes = torch.randint(0, 4, (2, 8, 8), generator=generator)
    noise = 0.1 * torch.randn(2, 4, 8, 8, generator=generator)
    logits = noise + torch.nn.functional.one_hot(classes, 4).permute(0, 3, 1, 2)
    logits = logits.detach().requires_grad_(True)
    indices = soft_argmax(logits)
    assert indices.shape == (2, 1, 8, 8) and indices.dtype == torch.float32
    assert (indices - classes.unsqueeze(1).float()).abs().max() < 1e-3
    # Gradients are tiny at tau=1e3 for well-separated logits; use a closer pair to see them.
    soft = soft_argmax(logits, tau=10.0)
    soft.sum().backward()
    assert logits.grad.abs().sum() > 0


def test_soft_argmax_is_stable_in_half_precision():
    logits = torch.tensor([[[[30.0]], [[40.0]], [[10.0]]]], dtype=torch.float16)
    result = soft_argmax(logits)
    assert torch.isfinite(result).all() and result.item() == pytest.approx(1.0)


def test_soft_argmax_gradient_flows_at_paper_temperature():
    logits = torch.tensor([[[[0.0]], [[0.001]]]], requires_grad=True)
    soft_argmax(logits).sum().backward()
    assert logits.grad.abs().sum() > 0


def test_gaussian_blur_preserves_constants_and_shape():
    x = torch.full((2, 3, 7, 5), 2.5)
    assert torch.allclose(gaussian_blur(x), x)
    y = torch.randn(1, 1, 9, 9, generator=torch.Generator().manual_seed(0))
    blurred = gaussian_blur(y, kernel_size=5, sigma=1.0)
    assert blurred.shape == y.shape and blurred.std() < y.std()


def test_gaussian_blur_kernel_of_paper_settings():
    impulse = torch.zeros(1, 1, 5, 5)
    impulse[0, 0, 2, 2] = 1.0
    kernel = gaussian_blur(impulse)[0, 0, 1:4, 1:4]
    weights = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * 0.6**2))
    weights /= weights.sum()
    np.testing.assert_allclose(kernel.numpy(), np.outer(weights, weights), rtol=1e-6)
    assert kernel.sum().item() == pytest.approx(1.0)


def test_gaussian_blur_rejects_even_kernels():
    with pytest.raises(ValueError):
        gaussian_blur(torch.zeros(1, 1, 4, 4), kernel_size=2)
