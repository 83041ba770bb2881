"""The shared rules: argument checks, the accumulator-format rule, the standard bias,
the product-width limit and atomic writes, each defined once and used everywhere."""

import numpy as np
import pytest

from macgen import precision, sweep
from macgen.config import ArrayConfig, MACConfig, check_product_man_bits
from macgen.files import atomic_path, write_all_or_nothing, write_atomic
from macgen.formats import FloatFormat, accumulator_format, check_format, standard_bias
from macgen.validate import check_bool, check_choice, check_int, check_real


@pytest.mark.parametrize("value", [5, np.int64(5), np.uint8(5), np.int32(5)])
def test_check_int_accepts_python_and_numpy_integers(value):
    got = check_int("Width", value, minimum=1, maximum=9)
    assert got == 5 and type(got) is int


@pytest.mark.parametrize("value, exc, message", [
    (True, TypeError, "Width must be an integer, not True"),
    (np.bool_(True), TypeError, "Width must be an integer, not "),
    (5.0, TypeError, "Width must be an integer, not 5.0"),
    ("5", TypeError, "Width must be an integer, not '5'"),
    (0, ValueError, "Width must be between 1 and 9, not 0"),
    (10, ValueError, "Width must be between 1 and 9, not 10"),
])
def test_check_int_rejects(value, exc, message):
    with pytest.raises(exc, match=message):
        check_int("Width", value, minimum=1, maximum=9)


def test_check_int_one_sided_bounds():
    with pytest.raises(ValueError, match="Count must be at least 1, not 0"):
        check_int("Count", 0, minimum=1)
    with pytest.raises(ValueError, match="Count must be at most 3, not 4"):
        check_int("Count", 4, maximum=3)


def test_check_real_bool_choice():
    assert check_real("Ratio", np.float32(0.5)) == 0.5 and check_real("Ratio", np.int64(2)) == 2.0
    with pytest.raises(TypeError, match="Ratio must be a real number, not True"):
        check_real("Ratio", True)
    with pytest.raises(ValueError, match="Ratio must be a number, not nan"):
        check_real("Ratio", float("nan"))
    with pytest.raises(ValueError, match="Ratio must be between 0 and 1, not 2.0"):
        check_real("Ratio", 2, minimum=0, maximum=1)
    assert check_bool("preload", np.bool_(False)) is False
    with pytest.raises(TypeError, match="preload must be a bool, not 1"):
        check_bool("preload", 1)
    with pytest.raises(ValueError, match="Mode must be one of a, b, not 'c'"):
        check_choice("Mode", "c", ("a", "b"))


def test_numpy_integers_accepted_by_formats_and_configs():
    # Before the shared helpers, FloatFormat took np.int64 but MACConfig's chunk_size did not.
    fmt = FloatFormat(np.int64(5), np.int64(2))
    assert fmt == FloatFormat(5, 2) and type(fmt.exp_bits) is int
    cfg = MACConfig("e5m2", "e5m2", "e6m9", chunk_size=np.int64(64), mul_stages=np.int8(1))
    assert cfg == MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64, mul_stages=1)
    assert type(cfg.chunk_size) is int
    arr = ArrayConfig(np.int64(2), np.int16(3), cfg)
    assert (arr.rows, arr.cols) == (2, 3) and type(arr.rows) is int
    assert check_format("a_fmt", "fp16") == FloatFormat(5, 10)
    with pytest.raises(TypeError, match="a_fmt must be a FloatFormat or a format name, not 3"):
        check_format("a_fmt", 3)


def test_standard_bias():
    assert [standard_bias(e) for e in (2, 5, 8, 11)] == [1, 15, 127, 1023]
    assert FloatFormat(8, 7).bias == standard_bias(8)


@pytest.mark.parametrize("a, b, e, m, expected", [
    ("e5m2", "e5m2", 6, 9, "e6m9"),
    ("e5m2_ftz", "e5m2", 6, 9, "e6m9"),              # the other operand has subnormals
    ("e5m2_ftz", "e5m2_ftz", 6, 9, "e6m9_ftz"),
    ("e4m3fn", "e4m3fn", 6, 9, "e6m9fn"),
    ("e5m2_bias10", "e5m2", 6, 9, "e6m9_bias26"),    # the operand's bias offset (-5) is kept
])
def test_accumulator_format_rule(a, b, e, m, expected):
    assert str(accumulator_format(FloatFormat.parse(a), FloatFormat.parse(b), e, m)) == expected


def test_accumulator_format_rule_shared_by_model_and_sweep():
    # The drift this rule removed: for e5m2_ftz x e5m2 the model chose e6m9 and the sweep e6m9_ftz.
    d = precision.decide_accumulator(1024, "e5m2_ftz", "e5m2", exp_bits=6)
    cfg, = sweep.sweep_configs("e5m2_ftz", "e5m2", man_bits=[d.acc_fmt.man_bits], exp_bits=[6], chunks=[0])
    assert cfg.acc_fmt == d.acc_fmt and d.acc_fmt.subnormals
    ref = sweep.reference_config("e5m2_ftz", "e5m2")
    assert ref.acc_fmt == accumulator_format(FloatFormat.parse("e5m2_ftz"), FloatFormat(5, 2), 8, 23)


def test_product_width_rule_is_one_rule():
    assert check_product_man_bits(None, 2, 2) is None
    assert check_product_man_bits(np.int64(4), 2, 2) == 4
    for check in (lambda: check_product_man_bits(5, 2, 2),
                  lambda: MACConfig("e5m2", "e5m2", "e6m9", product_man_bits=5),
                  lambda: precision.product_frac_bits("e5m2", "e5m2", 5)):
        with pytest.raises(ValueError, match="product_man_bits must be between 1 and 4"):
            check()


def test_write_atomic_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.txt"
    write_atomic(target, "one\n")
    assert target.read_text() == "one\n"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("writer failed")
    assert target.read_text() == "one\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_write_all_or_nothing_removes_written_files_on_error(tmp_path):
    good, bad = tmp_path / "a.v", tmp_path / "missing" / "b.json"
    with pytest.raises(OSError):
        write_all_or_nothing({good: "module a; endmodule\n", bad: "{}"})
    assert list(tmp_path.iterdir()) == []
