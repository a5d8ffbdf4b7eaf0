"""Pure compositing functions, torch on the device of their inputs: ``out = fg * a + bg * (1 - a)``.

Images are [H, W, C] uint8, alpha is [H, W] float in [0, 1]. Results are rounded to the nearest integer (half up),
not truncated, so a = 0.5 between 0 and 255 gives 128 and a flat alpha of 1 returns the foreground exactly.
"""
from __future__ import annotations

import torch


def composite(image: torch.Tensor, background: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """[H, W, 3] uint8 frame over [H, W, 3] uint8 background (anything broadcastable, e.g. [1, 1, 3]) by alpha."""
    a = alpha.float().clamp(0.0, 1.0).unsqueeze(-1)  # [H, W, 1]
    out = torch.lerp(background.float(), image.float(), a)  # bg + (fg - bg) * a
    return _to_uint8(out)


def matte(alpha: torch.Tensor) -> torch.Tensor:
    """The mask itself as a grayscale picture: [H, W] float -> [H, W, 3] uint8 (contiguous, ready for encoders)."""
    gray = _to_uint8(alpha.float() * 255.0)
    return gray.unsqueeze(-1).expand(-1, -1, 3).contiguous()


def rgba(image: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """[H, W, 3] uint8 frame and [H, W] alpha -> [H, W, 4] uint8, straight (not premultiplied) alpha."""
    return torch.cat([image, _to_uint8(alpha.float() * 255.0).unsqueeze(-1)], dim=-1)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    # +0.5 then truncation is round-half-up for the non-negative values left after the clamp
    return x.add(0.5).clamp_(0.0, 255.0).to(torch.uint8)
