"""PRECISION: what each machine can run, and which precision ``auto`` keeps (pure decisions)."""
import pytest

from low2high.core.errors import Low2HighError
from low2high.engine.inference.precision import (
    Hardware,
    Trial,
    auto_candidates,
    choose_fastest,
    cpu_flags,
    options,
    requested_option,
)

SAPPHIRE_RAPIDS = frozenset({"avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8"})
OLD_CPU = frozenset({"sse4_2", "avx2"})


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_vnni\nbugs\t\t: none\n")
    assert cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "avx512_vnni"}
    assert cpu_flags(str(tmp_path / "missing")) == frozenset()


def names(choices):
    return [choice.precision for choice in choices]


def test_a_cpu_with_bf16_and_vnni_tries_every_precision_for_a_checkpoint():
    choices = options("torch", Hardware("cpu", SAPPHIRE_RAPIDS))
    assert names(auto_candidates(choices)) == ["fp32", "bf16", "int8"]
    assert Hardware("cpu", SAPPHIRE_RAPIDS).describe().startswith("a CPU with avx512_bf16")


def test_a_cpu_without_bf16_or_vnni_leaves_auto_with_fp32_and_says_why():
    hardware = Hardware("cpu", OLD_CPU)
    choices = options("torch", hardware)
    assert names(auto_candidates(choices)) == ["fp32"]
    bf16 = next(choice for choice in choices if choice.precision == "bf16")
    assert "avx512_bf16" in bf16.unavailable and "without bf16 or VNNI" in bf16.unavailable
    int8 = requested_option("int8", choices)  # asked for explicitly it still runs, only slowly
    assert not int8.worthwhile


def test_an_onnx_model_has_no_bf16_and_says_to_use_the_checkpoint():
    choices = options("onnx", Hardware("cpu", SAPPHIRE_RAPIDS))
    assert names(auto_candidates(choices)) == ["fp32", "int8"]
    with pytest.raises(Low2HighError, match=r"PRECISION bf16 cannot be used here: .*\.pt checkpoint"):
        requested_option("bf16", choices)


def test_int8_of_a_checkpoint_needs_the_onnx_package_and_says_so():
    choices = options("torch", Hardware("cpu", SAPPHIRE_RAPIDS), has_onnx_export=False)
    with pytest.raises(Low2HighError, match="'onnx' package"):
        requested_option("int8", choices)


def test_on_a_gpu_int8_is_refused_and_bf16_offered():
    choices = options("torch", Hardware("cuda"))
    assert names(auto_candidates(choices)) == ["fp32", "bf16"]
    with pytest.raises(Low2HighError, match="choose DEVICE cpu"):
        requested_option("int8", choices)


def test_unknown_precision_is_refused():
    with pytest.raises(Low2HighError, match="PRECISION must be one of auto, fp32, bf16, int8"):
        requested_option("fp16", options("onnx", Hardware("cpu")))


def test_auto_keeps_the_fastest_precision_that_holds_the_agreement_target():
    trials = [Trial("fp32", 1.0, 1.0), Trial("bf16", 0.6, 0.995), Trial("int8", 0.4, 0.97)]
    best, reason, figures = choose_fastest(trials)
    assert best.precision == "bf16"
    assert "(int8 below that target)" in reason and "0.60× fp32's CPU time" in reason
    assert "keeping 99% class agreement with fp32" in reason
    assert "int8 2.50 Mpx per CPU-second, 97.00% agreement with fp32" in figures
    assert "fp32 1.00 Mpx per CPU-second" in figures and "bf16 1.67 Mpx per CPU-second" in figures


def test_auto_falls_back_to_fp32_when_nothing_cheaper_agrees_or_is_faster():
    assert choose_fastest([Trial("fp32", 1.0, 1.0), Trial("int8", 0.5, 0.98)])[0].precision == "fp32"
    assert choose_fastest([Trial("fp32", 1.0, 1.0), Trial("bf16", 1.3, 0.999)])[0].precision == "fp32"
    assert choose_fastest([Trial("fp32", 1.0, 1.0), Trial("int8", 0.5, 0.99)])[0].precision == "int8"  # bound included
