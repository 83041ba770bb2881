"""Workloads: built-in layer shapes, GEMM accumulation lengths, layer files."""

import json

import pytest

from macgen.workloads import (BUILTINS, GEMMS, Layer, Workload, builtin, get_workload,
                              load_workload, parse_gemms)


def _layer(workload, name):
    return next(layer for layer in builtin(workload).layers if layer.name == name)


def test_builtin_names_and_batches():
    assert set(BUILTINS) == {"resnet32-cifar10", "resnet18-imagenet", "alexnet-imagenet"}
    assert builtin("resnet32-cifar10").batch == 128
    assert builtin("resnet18-imagenet").batch == 256
    assert builtin("alexnet-imagenet").batch == 256


def test_layer_counts():
    # ResNet-32: stem + 3 stages x 5 blocks x 2 convs + fc; option-A shortcuts have no conv
    r32 = builtin("resnet32-cifar10")
    assert sum(layer.kind == "conv" for layer in r32.layers) == 31
    assert sum(layer.kind == "fc" for layer in r32.layers) == 1
    assert not any(layer.kernel == 1 for layer in r32.layers if layer.kind == "conv")
    # ResNet-18: stem + 16 convs in blocks + 3 projection shortcuts + fc
    r18 = builtin("resnet18-imagenet")
    assert sum(layer.kind == "conv" for layer in r18.layers) == 20
    assert sum(layer.kind == "conv" and layer.kernel == 1 for layer in r18.layers) == 3
    alex = builtin("alexnet-imagenet")
    assert [layer.kind for layer in alex.layers] == ["conv"] * 5 + ["fc"] * 3


@pytest.mark.parametrize("workload,layer,fwd,bwd,grad", [
    # ResNet-18 stem: 7x7, 3 -> 64, output 112x112, B = 256
    ("resnet18-imagenet", "conv1", 7 * 7 * 3, 7 * 7 * 64, 256 * 112 * 112),
    # layer4 first conv: 3x3, 256 -> 512 at 7x7
    ("resnet18-imagenet", "layer4.1.conv1", 9 * 256, 9 * 512, 256 * 7 * 7),
    # projection shortcut of layer3: 1x1, 128 -> 256 at 14x14
    ("resnet18-imagenet", "layer3.1.downsample", 128, 256, 256 * 14 * 14),
    ("resnet18-imagenet", "fc", 512, 1000, 256),
    # ResNet-32: stem 3x3, 3 -> 16 at 32x32, B = 128; stage 3 first conv 32 -> 64 at 8x8
    ("resnet32-cifar10", "conv1", 27, 144, 128 * 32 * 32),
    ("resnet32-cifar10", "s3b1.conv1", 9 * 32, 9 * 64, 128 * 8 * 8),
    ("resnet32-cifar10", "s2b5.conv2", 9 * 32, 9 * 32, 128 * 16 * 16),
    ("resnet32-cifar10", "fc", 64, 10, 128),
    # AlexNet conv1 11x11/4, 3 -> 96 at 55x55; conv2 5x5 96 -> 256 at 27x27; fc6 9216 -> 4096
    ("alexnet-imagenet", "conv1", 363, 11616, 256 * 55 * 55),
    ("alexnet-imagenet", "conv2", 2400, 6400, 256 * 27 * 27),
    ("alexnet-imagenet", "conv5", 3456, 2304, 256 * 13 * 13),
    ("alexnet-imagenet", "fc6", 9216, 4096, 256),
])
def test_gemm_lengths_hand_checked(workload, layer, fwd, bwd, grad):
    wl = builtin(workload)
    lay = _layer(workload, layer)
    assert [lay.length(g, wl.batch) for g in GEMMS] == [fwd, bwd, grad]


def test_batch_override_changes_grad_only():
    wl = get_workload("resnet18-imagenet", batch=32)
    lay = _layer("resnet18-imagenet", "conv1")
    assert wl.batch == 32
    assert lay.length("grad", 32) == 32 * 112 * 112
    assert lay.length("fwd", 32) == 147
    lengths = dict(((layer.name, g), n) for layer, g, n in wl.lengths())
    assert lengths[("fc", "grad")] == 32 and lengths[("fc", "fwd")] == 512


def test_lengths_order_and_selection():
    wl = builtin("alexnet-imagenet")
    rows = wl.lengths(("fwd", "grad"))
    assert len(rows) == 2 * len(wl.layers)
    assert [g for _, g, _ in rows[:4]] == ["fwd", "grad", "fwd", "grad"]


def test_parse_gemms():
    assert parse_gemms("grad, fwd") == ("fwd", "grad")
    assert parse_gemms("FWD,bwd,grad") == GEMMS
    with pytest.raises(ValueError, match="GEMM must be one of fwd, bwd, grad, not 'wgrad'"):
        parse_gemms("fwd,wgrad")
    with pytest.raises(ValueError):
        parse_gemms(" , ")


def test_unknown_builtin():
    with pytest.raises(ValueError, match="Unknown workload 'vgg16'"):
        get_workload("vgg16")


def test_layer_validation():
    with pytest.raises(ValueError, match="Layer type must be 'conv' or 'fc'"):
        Layer("x", "pool", 1, 1)
    with pytest.raises(ValueError, match="c_in must be at least 1, not 0"):
        Layer.conv("x", 3, 0, 4, 8)
    with pytest.raises(TypeError):
        Layer.fc("x", 4.0, 2)
    with pytest.raises(ValueError, match="Batch size must be at least 1, not 0"):
        builtin("resnet32-cifar10").with_batch(0)
    with pytest.raises(ValueError, match="has no layers"):
        Workload("empty", 4, ())


TOML_NET = """
name = "tiny"
batch = 16
[[layers]]
name = "c1"
type = "conv"
kernel = 3
in_channels = 3
out_channels = 8
out_size = 16
[[layers]]
type = "conv"
kernel = 1
stride = 2
in_channels = 8
out_channels = 4
out_h = 8
out_w = 4
[[layers]]
name = "head"
type = "fc"
in_features = 128
out_features = 10
"""


def test_load_toml(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TOML_NET)
    wl = load_workload(path)
    assert (wl.name, wl.batch, len(wl.layers)) == ("tiny", 16, 3)
    assert wl.layers[1].name == "layer1"
    assert [n for _, _, n in wl.lengths()] == [27, 72, 16 * 256, 8, 4, 16 * 32, 128, 10, 16]


def test_load_json_round_trip(tmp_path):
    wl = builtin("resnet18-imagenet")
    path = tmp_path / "r18.json"
    path.write_text(json.dumps(wl.to_dict()))
    loaded = get_workload(str(path))
    assert loaded.lengths() == wl.lengths()
    assert get_workload(str(path), batch=8).batch == 8


@pytest.mark.parametrize("text,match", [
    ('{"batch": 4, "layers": [{"type": "fc", "in_features": 3}]}',
     r"net.json: layer 0 \(layer0\): field 'out_features' is missing"),
    ('{"batch": 4, "layers": [{"type": "fc", "in_features": 3, "out_features": 2}, '
     '{"name": "c", "type": "conv", "kernel": 0, "in_channels": 1, "out_channels": 1, "out_size": 2}]}',
     r"net.json: layer 1 \(c\): field 'kernel' must be a positive integer, not 0"),
    ('{"batch": 4, "layers": [{"type": "conv", "kernel": 3, "in_channels": 1, "out_channels": 1}]}',
     r"layer 0 \(layer0\): field 'out_size' \(or 'out_h' and 'out_w'\) is missing"),
    ('{"batch": 4, "layers": [{"type": "fc", "in_features": 3, "out_features": 2, "bias": true}]}',
     r"layer 0 \(layer0\): unknown field 'bias'"),
    ('{"batch": 4, "layers": [{"type": "lstm"}]}', r"layer 0: field 'type' must be 'conv' or 'fc'"),
    ('{"batch": 4, "layers": [{"type": "fc", "in_features": "3", "out_features": 2}]}',
     r"field 'in_features' must be a positive integer, not '3'"),
    ('{"batch": 4, "layers": [{"type": "fc", "in_features": true, "out_features": 2}]}',
     r"field 'in_features' must be a positive integer, not True"),
    ('{"layers": [{"type": "fc", "in_features": 3, "out_features": 2}]}',
     r"net.json: field 'batch' is missing"),
    ('{"batch": 0, "layers": []}', r"net.json: field 'batch' must be a positive integer, not 0"),
    ('{"batch": 4, "layers": []}', r"net.json: field 'layers' must be a non-empty list"),
    ('{"batch": 4, "layerz": []}', r"net.json: unknown top-level field 'layerz'"),
    ('[1, 2]', r"net.json: top level must be a table/object"),
    ('{"batch": 4,', r"net.json: not valid JSON"),
])
def test_bad_json_files(tmp_path, text, match):
    path = tmp_path / "net.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_workload(path)


def test_bad_toml_file(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text("batch = 4\n[[layers]\n")
    with pytest.raises(ValueError, match="net.toml: not valid TOML"):
        load_workload(path)


def test_missing_file(tmp_path):
    with pytest.raises(OSError):
        get_workload(str(tmp_path / "nope.toml"))


def test_example_files_load():
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent / "examples" / "workloads"
    cnn = load_workload(root / "small-cnn.toml")
    assert (cnn.name, cnn.batch, len(cnn.layers)) == ("small-cnn", 64, 5)
    # conv2: 5x5, 32 -> 64 at 16x16, B = 64
    assert [cnn.layers[1].length(g, 64) for g in GEMMS] == [800, 1600, 64 * 256]
    mlp = load_workload(root / "mlp.json")
    assert [n for _, _, n in mlp.lengths()][:3] == [784, 1024, 512]
