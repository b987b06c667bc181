"""Mixed precision: autocast contexts and the GradScaler for ``amp="bf16" | "fp16"``."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

AMP_MODES = {"bf16": torch.bfloat16, "fp16": torch.float16}
"""The autocast dtype of each of :data:`lrfind.options.AMP_MODES`."""


def check_amp(amp: str | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp``; ``ValueError`` when this device cannot do it."""
    if amp is None:
        return None
    if amp not in AMP_MODES:
        raise ValueError(f"amp must be None, 'bf16' or 'fp16'; got {amp!r}")
    dtype = AMP_MODES[amp]
    if not torch.amp.is_autocast_available(device.type):
        raise ValueError(f"amp={amp!r} is not available on device type {device.type!r}")
    try:
        with torch.autocast(device_type=device.type, dtype=dtype):
            pass
    except (RuntimeError, AssertionError) as error:
        raise ValueError(f"amp={amp!r} is not supported on {device}: {error}") from None
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"amp='bf16' is not supported by this GPU ({device})")
    return dtype


def autocast(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[Any]:
    """An autocast context for ``dtype``, or a no-op for full precision."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def stepping_scaler(optimizer: Any) -> Any:
    """The GradScaler an optimizer's own ``step()`` goes through, or ``None``.

    Hugging Face Accelerate's ``AcceleratedOptimizer`` (fp16 mixed precision) unscales,
    steps and updates its scaler inside ``step()`` and tells a skipped step by
    ``step_was_skipped``: its gradients must come from a scaled loss, and nobody else
    may step that scaler.
    """
    scaler = getattr(optimizer, "scaler", None)
    if scaler is None or not hasattr(optimizer, "step_was_skipped"):
        return None
    if not all(hasattr(scaler, name) for name in ("scale", "unscale_", "state_dict")):
        return None
    return scaler


def make_scaler(amp: str | None, scaler: Any, device: torch.device) -> Any:
    """The user's GradScaler, a fresh one for fp16, or ``None``; ``ValueError`` naming
    ``grad_scaler`` when the user's is no ``torch.amp.GradScaler``."""
    if scaler is not None:
        if not isinstance(scaler, torch.amp.GradScaler):
            raise ValueError(
                f"grad_scaler must be a torch.amp.GradScaler or None, got {scaler!r:.80}"
            )
        return scaler
    if amp == "fp16":
        return torch.amp.GradScaler(device.type)
    return None
