"""Masked autoencoder for self-supervised pretraining of the ResNet-18 (Sec. 4.5, Fig. S3).

A ViT whose patch embedding is a ResNet-18 learns to reconstruct randomly masked patches (75 %)
of unlabeled imagery; afterwards the ResNet-18 weights initialise the U-Net encoder
(:meth:`MaskedAutoencoder.encoder_state_dict`).

Design decisions:

* The ResNet-18 sees each patch on its own (patches are folded into the batch dimension), and
  only the visible patches are embedded at all, so no information from a masked patch can
  reach the encoder (neither through convolutions nor through BatchNorm statistics).
* Stage-4 features are averaged to one vector per patch and projected to ``embed_dim``; fixed
  2-D sin-cos position embeddings tell the transformer where each patch lies. No class token:
  only the reconstruction is needed.
* The decoder predicts each patch at half resolution and a learned 2x upsampling layer
  (3x3 conv + pixel shuffle) brings it to full size ("followed by 2x upsampling layer").
* The loss is the mean squared error (Eq. S1) per patch, averaged over masked patches only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from .resnet import ResNet18Encoder


@dataclass
class MAEConfig:
    """Architecture and masking arguments of :class:`MaskedAutoencoder`.

    Attributes:
        in_channels: Image bands.
        image_size: Side of the square training crops (a multiple of ``patch_size``).
        patch_size: Side of a patch (even: the head predicts it at half resolution).
        width: ResNet-18 base width; must equal the U-Net's to transfer the weights.
        embed_dim: Encoder token width (a multiple of 4 and of ``num_heads``).
        depth: Encoder transformer layers.
        num_heads: Attention heads of encoder and decoder layers.
        decoder_dim: Decoder token width (a multiple of 4 and of ``num_heads``).
        decoder_depth: Decoder transformer layers.
        mask_ratio: Share of patches hidden from the encoder.
        norm_pix_loss: Reconstruct each patch normalised by its own mean and std (MAE's
            option that emphasises texture over brightness).
    """

    in_channels: int = 4
    image_size: int = 256
    patch_size: int = 32
    width: int = 64
    embed_dim: int = 256
    depth: int = 4
    num_heads: int = 8
    decoder_dim: int = 128
    decoder_depth: int = 2
    mask_ratio: float = 0.75
    norm_pix_loss: bool = False

    def __post_init__(self) -> None:
        if self.patch_size < 2 or self.patch_size % 2:
            raise ValueError(f"patch_size must be even, got {self.patch_size}")
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size ({self.image_size}) must be a multiple of patch_size "
                f"({self.patch_size})"
            )
        for name in ("embed_dim", "decoder_dim"):
            dim = getattr(self, name)
            if dim % 4 or dim % self.num_heads:
                raise ValueError(
                    f"{name} ({dim}) must be a multiple of 4 and of num_heads ({self.num_heads})"
                )
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {self.mask_ratio}")

    @property
    def grid_size(self) -> int:
        """Patches per image side."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """Patches per image."""
        return self.grid_size**2


class MAEReconstruction(NamedTuple):
    """Images for a reconstruction figure (Fig. S4), all ``(B, C, H, W)`` except ``mask``.

    Attributes:
        masked: The input with masked patches set to 0.
        prediction: The decoder output for every patch.
        composite: Visible patches from the input, masked patches from the prediction.
        mask: ``(B, 1, H, W)``, 1 where the patch was masked.
    """

    masked: torch.Tensor
    prediction: torch.Tensor
    composite: torch.Tensor
    mask: torch.Tensor


def sincos_position_embedding(dim: int, grid_size: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embeddings ``(grid_size**2, dim)``, row-major.

    Half of the channels encode the row, half the column, each as sines and cosines of
    geometrically spaced frequencies (as in MAE), so nothing has to be learned.
    """
    quarter = dim // 4
    frequencies = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    coords = torch.arange(grid_size, dtype=torch.float64)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")

    def encode(positions: torch.Tensor) -> torch.Tensor:
        angles = positions.reshape(-1, 1) * frequencies  # (L, dim/4)
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # (L, dim/2)

    return torch.cat([encode(rows), encode(cols)], dim=1).float()  # (L, dim)


def _transformer(dim: int, depth: int, num_heads: int) -> nn.Sequential:
    layers = [
        nn.TransformerEncoderLayer(
            dim, num_heads, dim_feedforward=4 * dim, dropout=0.0, activation="gelu",
            batch_first=True, norm_first=True,
        )
        for _ in range(depth)
    ]
    return nn.Sequential(*layers, nn.LayerNorm(dim))


def _gather_tokens(tokens: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Select ``indices`` (B, K) along dim 1 of ``tokens`` (B, L, ...) -> (B, K, ...)."""
    batch = torch.arange(tokens.shape[0], device=tokens.device).unsqueeze(1)
    return tokens[batch, indices]


class MaskedAutoencoder(nn.Module):
    """ViT masked autoencoder with a per-patch ResNet-18 embedding.

    Args:
        config: Architecture and masking arguments.
    """

    def __init__(self, config: MAEConfig) -> None:
        super().__init__()
        self.config = config
        c, p = config.in_channels, config.patch_size
        # Encoder: ResNet-18 per visible patch -> token, then transformer.
        self.patch_encoder = ResNet18Encoder(c, config.width)
        self.patch_projection = nn.Linear(self.patch_encoder.out_channels[-1], config.embed_dim)
        self.encoder = _transformer(config.embed_dim, config.depth, config.num_heads)
        # Decoder: all tokens (mask tokens for hidden patches) -> half-resolution patches -> 2x.
        self.decoder_embed = nn.Linear(config.embed_dim, config.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, config.decoder_dim))
        self.decoder = _transformer(config.decoder_dim, config.decoder_depth, config.num_heads)
        self.head = nn.Linear(config.decoder_dim, c * (p // 2) ** 2)
        self.upsample = nn.Sequential(nn.Conv2d(c, 4 * c, 3, padding=1), nn.PixelShuffle(2))
        grid = config.grid_size
        self.register_buffer(
            "pos_embed", sincos_position_embedding(config.embed_dim, grid), persistent=False
        )
        self.register_buffer(
            "decoder_pos_embed",
            sincos_position_embedding(config.decoder_dim, grid),
            persistent=False,
        )
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.mask_token, std=0.02)

    # ----- patch layout -------------------------------------------------------------------

    def patchify(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, L, C, p, p)`` patches in row-major order."""
        b, c, _, _ = images.shape
        g, p = self.config.grid_size, self.config.patch_size
        patches = images.reshape(b, c, g, p, g, p).permute(0, 2, 4, 1, 3, 5)  # (B, g, g, C, p, p)
        return patches.reshape(b, g * g, c, p, p)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        """``(B, L, C, p, p)`` -> ``(B, C, H, W)``; inverse of :meth:`patchify`."""
        b, _, c, p, _ = patches.shape
        g = self.config.grid_size
        images = patches.reshape(b, g, g, c, p, p).permute(0, 3, 1, 4, 2, 5)  # (B, C, g, p, g, p)
        return images.reshape(b, c, g * p, g * p)

    def random_masking(
        self,
        batch: int,
        mask_ratio: float | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Draw an independent random patch mask per sample.

        Args:
            batch: Number of samples.
            mask_ratio: Share of masked patches; default ``config.mask_ratio``.
            generator: Random generator for reproducible masks (any device).
            device: Device of the returned tensors.

        Returns:
            ``ids_keep (B, K)`` visible patch indices, ``mask (B, L)`` float with 1 = masked,
            and ``ids_restore (B, L)`` which undoes the visible-first shuffle.
        """
        ratio = self.config.mask_ratio if mask_ratio is None else mask_ratio
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {ratio}")
        length = self.config.num_patches
        keep = max(1, int(length * (1.0 - ratio)))
        noise_device = generator.device if generator is not None else device
        noise = torch.rand(batch, length, generator=generator, device=noise_device).to(device)
        ids_shuffle = noise.argsort(dim=1)  # (B, L): visible patches first
        ids_restore = ids_shuffle.argsort(dim=1)  # (B, L)
        mask = torch.ones(batch, length, device=device)
        mask[:, :keep] = 0
        mask = mask.gather(1, ids_restore)  # (B, L) in patch order
        return ids_shuffle[:, :keep], mask, ids_restore

    # ----- stages -------------------------------------------------------------------------

    def forward_encoder(self, images: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        """Embed and encode the visible patches only.

        Args:
            images: ``(B, C, H, W)``.
            ids_keep: ``(B, K)`` indices of the visible patches.

        Returns:
            Encoded visible tokens ``(B, K, embed_dim)``.
        """
        b, k = ids_keep.shape
        visible = _gather_tokens(self.patchify(images), ids_keep)  # (B, K, C, p, p)
        features = self.patch_encoder(visible.flatten(0, 1))[-1]  # (B*K, 8w, p/32, p/32)
        tokens = self.patch_projection(features.mean(dim=(2, 3)))  # (B*K, D)
        tokens = tokens.reshape(b, k, -1)  # (B, K, D)
        position = _gather_tokens(self.pos_embed.expand(b, -1, -1), ids_keep)  # (B, K, D)
        return self.encoder(tokens + position)  # (B, K, D)

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Predict every patch from the visible tokens.

        Args:
            latent: ``(B, K, embed_dim)`` encoder output.
            ids_restore: ``(B, L)`` from :meth:`random_masking`.

        Returns:
            Predicted patches ``(B, L, C, p, p)``.
        """
        b, k, _ = latent.shape
        c, p = self.config.in_channels, self.config.patch_size
        length = ids_restore.shape[1]
        tokens = self.decoder_embed(latent)  # (B, K, Dd)
        hidden = self.mask_token.expand(b, length - k, -1)  # (B, L-K, Dd)
        tokens = torch.cat([tokens, hidden], dim=1)  # (B, L, Dd), visible first
        tokens = _gather_tokens(tokens, ids_restore)  # (B, L, Dd), patch order
        tokens = self.decoder(tokens + self.decoder_pos_embed)  # (B, L, Dd)
        half = self.head(tokens).reshape(b * length, c, p // 2, p // 2)  # (B*L, C, p/2, p/2)
        return self.upsample(half).reshape(b, length, c, p, p)  # (B, L, C, p, p)

    def reconstruction_target(self, images: torch.Tensor) -> torch.Tensor:
        """Patches ``(B, L, C, p, p)`` the decoder must reproduce (normalised if configured)."""
        target = self.patchify(images)
        if self.config.norm_pix_loss:
            mean = target.mean(dim=(2, 3, 4), keepdim=True)
            var = target.var(dim=(2, 3, 4), keepdim=True)
            target = (target - mean) / (var + 1e-6).sqrt()
        return target

    def forward_loss(
        self, images: torch.Tensor, prediction: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Mean squared error per patch (Eq. S1), averaged over masked patches.

        Visible patches are excluded because copying them is trivial. With no masked patch
        (``mask_ratio=0``) every patch counts.
        """
        error = (prediction - self.reconstruction_target(images)) ** 2  # (B, L, C, p, p)
        per_patch = error.mean(dim=(2, 3, 4))  # (B, L)
        if mask.sum() == 0:
            return per_patch.mean()
        return (per_patch * mask).sum() / mask.sum()

    def _check_images(self, images: torch.Tensor) -> None:
        cfg = self.config
        expected = (cfg.in_channels, cfg.image_size, cfg.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"MaskedAutoencoder expects images (batch, {expected[0]}, {expected[1]}, "
                f"{expected[2]}), got {tuple(images.shape)}"
            )

    def forward(
        self,
        images: torch.Tensor,
        mask_ratio: float | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mask, encode, decode and score a batch.

        Args:
            images: Normalised images ``(B, C, image_size, image_size)``.
            mask_ratio: Overrides ``config.mask_ratio``.
            generator: Random generator for the mask.

        Returns:
            ``loss`` (scalar), ``prediction`` ``(B, C, H, W)`` (every patch reconstructed; in
            per-patch normalised units if ``norm_pix_loss``) and ``mask`` ``(B, L)`` with
            1 = masked.
        """
        self._check_images(images)
        ids_keep, mask, ids_restore = self.random_masking(
            images.shape[0], mask_ratio, generator, images.device
        )
        latent = self.forward_encoder(images, ids_keep)  # (B, K, D)
        patches = self.forward_decoder(latent, ids_restore)  # (B, L, C, p, p)
        loss = self.forward_loss(images, patches, mask)
        return loss, self.unpatchify(patches), mask

    # ----- outputs ------------------------------------------------------------------------

    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """ResNet-18 weights, named as ``UNet.encoder.state_dict()`` expects them."""
        return {k: v.detach().clone() for k, v in self.patch_encoder.state_dict().items()}

    @torch.no_grad()
    def reconstruct_parts(
        self,
        images: torch.Tensor,
        mask_ratio: float | None = None,
        generator: torch.Generator | None = None,
    ) -> MAEReconstruction:
        """Masked input, prediction and composite for plots (Fig. S4), in eval mode.

        With ``norm_pix_loss`` the prediction is mapped back to image units with each patch's
        own mean and std, as MAE does for its figures.
        """
        was_training = self.training
        self.eval()
        try:
            self._check_images(images)
            ids_keep, mask, ids_restore = self.random_masking(
                images.shape[0], mask_ratio, generator, images.device
            )
            patches = self.forward_decoder(self.forward_encoder(images, ids_keep), ids_restore)
        finally:
            self.train(was_training)
        if self.config.norm_pix_loss:
            source = self.patchify(images)
            mean = source.mean(dim=(2, 3, 4), keepdim=True)
            std = (source.var(dim=(2, 3, 4), keepdim=True) + 1e-6).sqrt()
            patches = patches * std + mean
        p = self.config.patch_size
        patch_mask = mask.reshape(*mask.shape, 1, 1, 1).expand(-1, -1, 1, p, p)  # (B, L, 1, p, p)
        mask_image = self.unpatchify(patch_mask.to(images.dtype))  # (B, 1, H, W)
        prediction = self.unpatchify(patches)  # (B, C, H, W)
        masked = images * (1 - mask_image)
        composite = masked + prediction * mask_image
        return MAEReconstruction(masked, prediction, composite, mask_image)

    def reconstruct(
        self,
        images: torch.Tensor,
        mask_ratio: float | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Composite ``(B, C, H, W)``: visible input patches + reconstructed masked patches."""
        return self.reconstruct_parts(images, mask_ratio, generator).composite
