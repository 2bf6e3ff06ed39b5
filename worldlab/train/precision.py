"""Compute precision chosen by what the hardware runs natively.

``precision: auto`` (the default everywhere) is bf16 where the device has bf16 units
and fp32 everywhere else. On a CPU, bf16 autocast pays only with AVX512-BF16 or AMX
tiles: on an AVX2-only CPU its convolutions fall back to emulation and a step runs
several times slower (measured 8.7× on the ``rssm`` demo preset). An explicit ``bf16``
on such a CPU still runs, with one warning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings

import torch

from worldlab.errors import WorldlabError

CHOICES = ("auto", "fp32", "bf16")
_warned: set[str] = set()


@dataclasses.dataclass(frozen=True)
class Precision:
    """What a run computes in (``fp32`` or ``bf16``) and why that was chosen."""

    name: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"precision": self.name, "reason": self.reason}


def cpu_capability() -> str:
    """The SIMD level torch dispatches to on this CPU: ``AVX512``, ``AVX2``, ``DEFAULT``..."""
    return torch.backends.cpu.get_cpu_capability()


def cpu_features() -> dict[str, bool]:
    """The CPU's bf16 units (``avx512_bf16``, ``amx``) as torch sees them."""
    cpu = torch.cpu
    return {
        "avx512_bf16": bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()),
        "amx": bool(getattr(cpu, "_is_amx_tile_supported", lambda: False)()),
    }


def describe_cpu() -> str:
    """One label for figures: ``AVX512 with BF16``, ``AVX512 with AMX``, ``AVX2``..."""
    capability = cpu_capability()
    features = cpu_features()
    if capability != "AVX512":
        return capability  # torch dispatches below AVX-512: its bf16 units go unused
    if features["amx"]:
        return "AVX512 with AMX"
    return "AVX512 with BF16" if features["avx512_bf16"] else "AVX512, no BF16"


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """Whether ``device`` runs bf16 natively, and the evidence in words."""
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return True, f"CUDA device {torch.cuda.get_device_name(device)} supports bf16"
        return False, f"CUDA device {torch.cuda.get_device_name(device)} has no bf16"
    if device.type != "cpu":
        return False, f"bf16 autocast is not used on {device.type}"
    capability = cpu_capability()
    features = cpu_features()
    units = [name for name, present in features.items() if present]
    if capability == "AVX512" and units:
        return True, f"CPU capability {capability} with {' and '.join(units).upper()}"
    if units:
        return False, (
            f"CPU has {' and '.join(units).upper()} but torch dispatches to {capability} "
            "(ATEN_CPU_CAPABILITY?)"
        )
    return False, f"CPU capability {capability}, no AVX512-BF16 or AMX"


def resolve_precision(requested: str, device: torch.device) -> Precision:
    """``auto`` → bf16 where native, else fp32; an explicit choice is kept (and a bf16
    without native support warns once that it will be slow)."""
    if requested not in CHOICES:
        raise WorldlabError(
            f"train.precision must be one of {', '.join(CHOICES)}, got '{requested}'"
        )
    native, evidence = native_bf16(device)
    if requested == "auto":
        name = "bf16" if native else "fp32"
        return Precision(name, f"auto: {evidence}")
    if requested == "bf16" and not native and evidence not in _warned:
        _warned.add(evidence)
        warnings.warn(
            f"train.precision=bf16 on hardware without native bf16 ({evidence}): expect "
            "several times slower steps than fp32; use train.precision=auto",
            stacklevel=2,
        )
    return Precision(requested, f"set explicitly ({evidence})")


def autocast(device: torch.device, precision: str | Precision):
    """bf16 autocast (DreamerV3's default compute precision), or nothing for fp32."""
    name = precision.name if isinstance(precision, Precision) else precision
    if name == "auto":
        name = resolve_precision(name, device).name
    if name == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    if name != "fp32":
        raise WorldlabError(f"precision '{name}' is not supported: use auto, fp32 or bf16")
    return contextlib.nullcontext()
