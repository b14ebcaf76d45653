"""Where and in what arithmetic inference runs: the device, mixed precision and the batch size."""
from __future__ import annotations

import contextlib
import warnings

import torch

from ..config import RunError

__all__ = ["PRECISIONS", "CPU_BATCH", "GPU_BATCH", "inference_precision", "check_precision", "batch_size_for",
           "resolve_device"]

CPU_BATCH, GPU_BATCH = 8, 64
PRECISIONS = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def inference_precision(device: torch.device, precision: str):
    """The context inference runs in: nothing for fp32, else torch.autocast to `precision` on `device` (convolutions
    and matrix products in 16 bits, reductions and the sigmoid in fp32)."""
    if precision not in PRECISIONS:
        raise RunError(f"unknown --precision {precision!r}; use {', '.join(PRECISIONS)}")
    if PRECISIONS[precision] is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=PRECISIONS[precision])


def check_precision(device: torch.device, precision: str) -> None:
    """A one-line error now, rather than torch's warning and a silent fall back to fp32, when `device` cannot run
    `precision`."""
    context = inference_precision(device, precision)  # an unknown name raises here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with context:
                pass
    except (RuntimeError, UserWarning) as error:
        raise RunError(f"--precision {precision} is not available on {device.type}: {str(error).splitlines()[0]}") \
            from None



def batch_size_for(batch_size: int | None, device: torch.device) -> int:
    """`--batch-size`, or by device when not given: on CPU, batches of 8 frames score MesoInception4 about twice
    as fast per frame as batches of 64 (its large, few-channel activations then stay in cache; the zoo models
    gain too), while a GPU wants large batches."""
    if batch_size is None:
        return GPU_BATCH if device.type in ("cuda", "mps") else CPU_BATCH
    if batch_size < 1:
        raise RunError(f"--batch-size must be at least 1, got {batch_size}")
    return batch_size



def resolve_device(name: str) -> torch.device:
    """`auto`: cuda if available, else mps, else cpu; an explicit device that is absent is an error."""
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()}
    if name == "auto":
        return torch.device(next(d for d in ("cuda", "mps", "cpu") if available[d]))
    if name not in available:
        raise RunError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    if not available[name]:
        raise RunError(f"device {name!r} is not available on this machine (use --device auto or cpu)")
    return torch.device(name)
