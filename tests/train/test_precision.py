"""``train.precision: auto`` follows the hardware: bf16 only where it runs natively."""

import json
import warnings

import pytest
import torch

from worldlab.data import collect
from worldlab.errors import WorldlabError
from worldlab.train import precision as precision_module
from worldlab.train import train
from worldlab.train.precision import autocast, describe_cpu, resolve_precision

CPU = torch.device("cpu")


def fake_cpu(monkeypatch, capability: str, avx512_bf16: bool = False, amx: bool = False):
    monkeypatch.setattr(precision_module, "cpu_capability", lambda: capability)
    monkeypatch.setattr(
        precision_module, "cpu_features", lambda: {"avx512_bf16": avx512_bf16, "amx": amx}
    )
    precision_module._warned.clear()


def test_auto_is_fp32_on_an_avx2_cpu(monkeypatch):
    fake_cpu(monkeypatch, "AVX2")
    chosen = resolve_precision("auto", CPU)
    assert chosen.name == "fp32"
    assert "AVX2" in chosen.reason and "auto" in chosen.reason
    assert describe_cpu() == "AVX2"


def test_auto_is_fp32_on_avx512_without_bf16_units(monkeypatch):
    fake_cpu(monkeypatch, "AVX512")
    assert resolve_precision("auto", CPU).name == "fp32"
    assert describe_cpu() == "AVX512, no BF16"


@pytest.mark.parametrize("units", [{"avx512_bf16": True}, {"amx": True}])
def test_auto_is_bf16_where_the_cpu_has_bf16_units(monkeypatch, units):
    fake_cpu(monkeypatch, "AVX512", **units)
    chosen = resolve_precision("auto", CPU)
    assert chosen.name == "bf16"
    assert "AVX512" in chosen.reason


def test_bf16_units_unused_when_torch_dispatches_below_avx512(monkeypatch):
    # ATEN_CPU_CAPABILITY=avx2 on an AVX512-BF16 machine: torch's kernels are AVX2 ones.
    fake_cpu(monkeypatch, "AVX2", avx512_bf16=True)
    assert resolve_precision("auto", CPU).name == "fp32"


def test_explicit_bf16_without_native_support_runs_and_warns_once(monkeypatch):
    fake_cpu(monkeypatch, "AVX2")
    with pytest.warns(UserWarning, match="several times slower"):
        assert resolve_precision("bf16", CPU).name == "bf16"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_precision("bf16", CPU).name == "bf16"  # no second warning


def test_explicit_fp32_is_kept_on_a_bf16_cpu(monkeypatch):
    fake_cpu(monkeypatch, "AVX512", avx512_bf16=True)
    assert resolve_precision("fp32", CPU).name == "fp32"


def test_unknown_precision_is_a_clear_error():
    with pytest.raises(WorldlabError, match="auto, fp32, bf16"):
        resolve_precision("fp16", CPU)


def test_autocast_follows_the_resolved_choice(monkeypatch):
    fake_cpu(monkeypatch, "AVX512", avx512_bf16=True)
    with autocast(CPU, resolve_precision("auto", CPU)):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert torch.is_autocast_enabled("cpu")
    fake_cpu(monkeypatch, "AVX2")
    with autocast(CPU, resolve_precision("auto", CPU)):
        assert not torch.is_autocast_enabled("cpu")


@pytest.mark.parametrize(
    "capability, units, expected", [("AVX2", {}, "fp32"), ("AVX512", {"amx": True}, "bf16")]
)
def test_a_run_records_what_auto_resolved_to_and_why(
    tmp_path, monkeypatch, capability, units, expected
):
    fake_cpu(monkeypatch, capability, **units)
    collect("reach", tmp_path / "data", 2, max_steps=12, size=32, progress=False)
    summary = train(
        "rssm",
        tmp_path / "data",
        tmp_path / "run",
        "tiny",
        {"train.steps": 2, "train.batch_size": 2, "train.seq_len": 6},
        progress=False,
    )
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["train"]["precision"] == "auto"
    assert config["runtime"]["precision"] == expected == summary["precision"]
    assert capability in config["runtime"]["reason"]
    log = (tmp_path / "run" / "log.txt").read_text()
    assert f"in {expected} (auto: CPU capability {capability}" in log
