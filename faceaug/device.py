"""Device choice and seeded random generators — the one place that decides where tensors live."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from faceaug.errors import UserError

_DEVICE_SPEC = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


def resolve_device(spec: str = "auto") -> torch.device:
    """`auto` → CUDA if present, else CPU; `cpu`; `cuda`; `cuda:N`. Asking for CUDA without one is a UserError."""
    spec = (spec or "auto").strip().lower()
    if not _DEVICE_SPEC.match(spec):
        raise UserError(f"Unknown device {spec!r}. Use auto, cpu, cuda or cuda:N.")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"Device {spec!r} was requested but this machine has no CUDA GPU (torch sees none).")
        index = int(spec.split(":")[1]) if ":" in spec else 0
        if index >= torch.cuda.device_count():
            raise UserError(f"Device {spec!r} does not exist: torch sees {torch.cuda.device_count()} GPU(s).")
    return torch.device(spec)


def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively here (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def torch_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A seeded torch generator (pass it explicitly; never rely on global RNG state)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen


def numpy_rng(seed: int | np.random.SeedSequence) -> np.random.Generator:
    """A seeded NumPy generator."""
    return np.random.default_rng(seed)


@contextmanager
def torch_cpu_threads(device: torch.device, threads: int) -> Iterator[None]:
    """Run with `threads` torch threads on CPU (0 = unchanged; on other devices nothing changes), restored after."""
    before = torch.get_num_threads()
    change = device.type == "cpu" and threads > 0 and threads != before
    if change:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if change:
            torch.set_num_threads(before)
