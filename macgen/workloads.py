"""Deep-learning workloads: layer shapes and the accumulation lengths of their GEMMs.

Training a layer runs three GEMMs (docs/model.md), each a set of dot products whose
length is what the accumulator must survive:

============  =======================  ================
layer         FWD / BWD                GRAD (weights)
============  =======================  ================
conv k x k    ``k²·C_in`` / ``k²·C_out``  ``B·H·W`` (output H×W)
fc            ``d_in`` / ``d_out``         ``B``
============  =======================  ================

Built-in workloads (:data:`BUILTINS`):

``resnet32-cifar10`` (B = 128)
    He et al. 2016, §4.2: 3×3 stem 3→16, three stages of five basic blocks
    (16, 32, 64 channels at 32×32, 16×16, 8×8; the first conv of stages 2 and 3
    has stride 2), global pool, fc 64→10. Shortcuts are the paper's option A
    (identity with zero padding), so there are no 1×1 convolutions.
``resnet18-imagenet`` (B = 256)
    He et al. 2016, Table 1 (torchvision's ``resnet18``): 7×7/2 stem 3→64 at
    112×112, max pool, four stages of two basic blocks (64, 128, 256, 512
    channels at 56, 28, 14, 7), 1×1/2 projection shortcuts at the first block of
    stages 2–4 (option B), fc 512→1000.
``alexnet-imagenet`` (B = 256)
    Krizhevsky et al. 2012 layer shapes as a single tower (no two-GPU channel
    groups): conv1 11×11/4 3→96 at 55×55, conv2 5×5 96→256 at 27×27, conv3 3×3
    256→384, conv4 3×3 384→384, conv5 3×3 384→256 at 13×13, fc6 9216→4096,
    fc7 4096→4096, fc8 4096→1000.

Layer files
-----------
TOML (``.toml``) or JSON (any other suffix) with this schema::

    name = "my-net"          # optional, default: the file's stem
    batch = 64               # required, a positive integer
    [[layers]]
    name = "conv1"           # optional, default "layerN"
    type = "conv"            # "conv" or "fc"
    kernel = 3               # conv: kernel size k (k x k)
    stride = 1               # conv: optional, default 1 (informational)
    in_channels = 3          # conv: C_in
    out_channels = 16        # conv: C_out
    out_size = 32            # conv: output H = W; or give out_h and out_w
    [[layers]]
    type = "fc"
    in_features = 64         # fc: d_in
    out_features = 10        # fc: d_out

JSON: ``{"name": ..., "batch": 64, "layers": [{"type": "conv", ...}, ...]}``.
Unknown keys are errors, and every error names the file, the layer index and
the field.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass

from .limits import MAX_BATCH, MAX_LAYER_DIM, MAX_LENGTH

__all__ = ["Layer", "Workload", "GEMMS", "BUILTINS", "builtin", "load_workload",
           "get_workload", "parse_gemms"]

#: The three training GEMMs, in order.
GEMMS = ("fwd", "bwd", "grad")


def _pos_int(value, what):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an integer, not {value!r}")
    if value < 1:
        raise ValueError(f"{what} must be at least 1, not {value}")
    return value


@dataclass(frozen=True)
class Layer:
    """One conv or fc layer.

    Parameters
    ----------
    name : str
    kind : {'conv', 'fc'}
    c_in, c_out : int
        Input/output channels (conv) or features (fc).
    kernel : int
        Kernel size k of a k×k conv (1 for fc).
    stride : int
        Conv stride (informational: the output size is given directly).
    out_h, out_w : int
        Conv output height and width (1 for fc).
    """

    name: str
    kind: str
    c_in: int
    c_out: int
    kernel: int = 1
    stride: int = 1
    out_h: int = 1
    out_w: int = 1

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"Layer name must be a non-empty string, not {self.name!r}")
        if self.kind not in ("conv", "fc"):
            raise ValueError(f"Layer type must be 'conv' or 'fc', not {self.kind!r}")
        for field in ("c_in", "c_out", "kernel", "stride", "out_h", "out_w"):
            _pos_int(getattr(self, field), f"Layer {self.name!r} {field}")

    @classmethod
    def conv(cls, name, kernel, c_in, c_out, out, stride=1):
        """A k×k convolution with a square ``out × out`` output."""
        return cls(name, "conv", c_in, c_out, kernel=kernel, stride=stride, out_h=out, out_w=out)

    @classmethod
    def fc(cls, name, d_in, d_out):
        return cls(name, "fc", d_in, d_out)

    def length(self, gemm, batch) -> int:
        """Accumulation length of ``gemm`` ('fwd', 'bwd', 'grad') at batch size ``batch``."""
        if gemm not in GEMMS:
            raise ValueError(f"GEMM must be one of {', '.join(GEMMS)}, not {gemm!r}")
        batch = _pos_int(batch, "Batch size")
        k2 = self.kernel * self.kernel
        if self.kind == "conv":
            return {"fwd": k2 * self.c_in, "bwd": k2 * self.c_out,
                    "grad": batch * self.out_h * self.out_w}[gemm]
        return {"fwd": self.c_in, "bwd": self.c_out, "grad": batch}[gemm]

    def to_dict(self) -> dict:
        if self.kind == "fc":
            return {"name": self.name, "type": "fc", "in_features": self.c_in,
                    "out_features": self.c_out}
        return {"name": self.name, "type": "conv", "kernel": self.kernel, "stride": self.stride,
                "in_channels": self.c_in, "out_channels": self.c_out,
                "out_h": self.out_h, "out_w": self.out_w}


@dataclass(frozen=True)
class Workload:
    """A network: its layers and training batch size."""

    name: str
    batch: int
    layers: tuple
    description: str = ""

    def __post_init__(self):
        _pos_int(self.batch, "Batch size")
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ValueError(f"Workload {self.name!r} has no layers")

    def with_batch(self, batch) -> "Workload":
        """The same network at another batch size (GRAD lengths change)."""
        return Workload(self.name, _pos_int(batch, "Batch size"), self.layers, self.description)

    def lengths(self, gemms=GEMMS):
        """``[(layer, gemm, length), ...]`` in layer order, GEMMs in ``gemms`` order.

        Raises
        ------
        ValueError
            A length above :data:`macgen.limits.MAX_LENGTH` (the model sizes up to it).
        """
        out = [(layer, g, layer.length(g, self.batch)) for layer in self.layers for g in gemms]
        for layer, g, n in out:
            if n > MAX_LENGTH:
                raise ValueError(f"Workload {self.name!r}: the {g.upper()} GEMM of layer {layer.name!r} "
                                 f"accumulates {n:,} products, more than {MAX_LENGTH:,}")
        return out

    def to_dict(self) -> dict:
        return {"name": self.name, "batch": self.batch,
                "layers": [layer.to_dict() for layer in self.layers]}


def _resnet32_cifar10():
    layers = [Layer.conv("conv1", 3, 3, 16, 32)]
    c_prev = 16
    for stage, (c, size) in enumerate(((16, 32), (32, 16), (64, 8)), start=1):
        for block in range(1, 6):
            stride = 2 if (stage > 1 and block == 1) else 1
            layers.append(Layer.conv(f"s{stage}b{block}.conv1", 3, c_prev, c, size, stride))
            layers.append(Layer.conv(f"s{stage}b{block}.conv2", 3, c, c, size))
            c_prev = c
    layers.append(Layer.fc("fc", 64, 10))
    return Workload("resnet32-cifar10", 128, layers,
                    "ResNet-32 for CIFAR-10 (He et al. 2016, option-A shortcuts)")


def _resnet18_imagenet():
    layers = [Layer.conv("conv1", 7, 3, 64, 112, stride=2)]
    c_prev = 64
    for stage, (c, size) in enumerate(((64, 56), (128, 28), (256, 14), (512, 7)), start=1):
        for block in range(1, 3):
            stride = 2 if (stage > 1 and block == 1) else 1
            layers.append(Layer.conv(f"layer{stage}.{block}.conv1", 3, c_prev, c, size, stride))
            layers.append(Layer.conv(f"layer{stage}.{block}.conv2", 3, c, c, size))
            if stride == 2:
                layers.append(Layer.conv(f"layer{stage}.{block}.downsample", 1, c_prev, c, size, 2))
            c_prev = c
    layers.append(Layer.fc("fc", 512, 1000))
    return Workload("resnet18-imagenet", 256, layers,
                    "ResNet-18 for ImageNet (He et al. 2016, 1x1 projection shortcuts)")


def _alexnet_imagenet():
    layers = [
        Layer.conv("conv1", 11, 3, 96, 55, stride=4),
        Layer.conv("conv2", 5, 96, 256, 27),
        Layer.conv("conv3", 3, 256, 384, 13),
        Layer.conv("conv4", 3, 384, 384, 13),
        Layer.conv("conv5", 3, 384, 256, 13),
        Layer.fc("fc6", 9216, 4096),
        Layer.fc("fc7", 4096, 4096),
        Layer.fc("fc8", 4096, 1000),
    ]
    return Workload("alexnet-imagenet", 256, layers,
                    "AlexNet for ImageNet (Krizhevsky et al. 2012 shapes, single tower)")


#: Built-in workloads by name.
BUILTINS = {w.name: w for w in (_resnet32_cifar10(), _resnet18_imagenet(), _alexnet_imagenet())}


def builtin(name) -> Workload:
    """A built-in workload by name (see :data:`BUILTINS`)."""
    try:
        return BUILTINS[name]
    except KeyError:
        raise ValueError(f"Unknown workload {name!r}; built-ins are {', '.join(BUILTINS)}, "
                         f"or give a .toml/.json layer file") from None


_CONV_KEYS = {"name", "type", "kernel", "stride", "in_channels", "out_channels",
              "out_size", "out_h", "out_w"}
_FC_KEYS = {"name", "type", "in_features", "out_features"}


def _layer_from_dict(data, index, where):
    ctx = f"{where}: layer {index}"
    if not isinstance(data, dict):
        raise ValueError(f"{ctx}: must be a table/object, not {data!r}")
    kind = data.get("type")
    if kind not in ("conv", "fc"):
        raise ValueError(f"{ctx}: field 'type' must be 'conv' or 'fc', not {kind!r}")
    name = data.get("name", f"layer{index}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{ctx}: field 'name' must be a non-empty string, not {name!r}")
    allowed = _CONV_KEYS if kind == "conv" else _FC_KEYS
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"{ctx} ({name}): unknown field {unknown[0]!r} for a {kind} layer "
                         f"(allowed: {', '.join(sorted(allowed))})")

    def get(key, default=None):
        if key not in data:
            if default is None:
                raise ValueError(f"{ctx} ({name}): field {key!r} is missing")
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{ctx} ({name}): field {key!r} must be a positive integer, "
                             f"not {value!r}")
        if value > MAX_LAYER_DIM:
            raise ValueError(f"{ctx} ({name}): field {key!r} must be at most {MAX_LAYER_DIM:,}, not {value}")
        return value

    if kind == "fc":
        return Layer.fc(name, get("in_features"), get("out_features"))
    if "out_size" in data:
        if "out_h" in data or "out_w" in data:
            raise ValueError(f"{ctx} ({name}): give either field 'out_size' or 'out_h'/'out_w', "
                             f"not both")
        out_h = out_w = get("out_size")
    elif "out_h" in data or "out_w" in data:
        out_h, out_w = get("out_h"), get("out_w")
    else:
        raise ValueError(f"{ctx} ({name}): field 'out_size' (or 'out_h' and 'out_w') is missing")
    return Layer(name, "conv", get("in_channels"), get("out_channels"), kernel=get("kernel"),
                 stride=get("stride", 1), out_h=out_h, out_w=out_w)


def load_workload(path) -> Workload:
    """Read a layer file (TOML if the name ends in ``.toml``, else JSON).

    See the module docstring for the schema.

    Raises
    ------
    OSError
        The file cannot be read.
    ValueError
        Bad syntax or content, naming the file, layer index and field.
    """
    path = os.fspath(path)
    where = os.path.basename(path) or path
    with open(path, "rb") as f:
        raw = f.read()
    try:
        if path.lower().endswith(".toml"):
            data = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where}: not valid {'TOML' if path.lower().endswith('.toml') else 'JSON'}: "
                         f"{exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{where}: top level must be a table/object with 'batch' and 'layers'")
    unknown = sorted(set(data) - {"name", "batch", "layers", "description"})
    if unknown:
        raise ValueError(f"{where}: unknown top-level field {unknown[0]!r} "
                         f"(allowed: batch, description, layers, name)")
    if "batch" not in data:
        raise ValueError(f"{where}: field 'batch' is missing")
    batch = data["batch"]
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"{where}: field 'batch' must be a positive integer, not {batch!r}")
    if batch > MAX_BATCH:
        raise ValueError(f"{where}: field 'batch' must be at most {MAX_BATCH:,}, not {batch}")
    layers = data.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ValueError(f"{where}: field 'layers' must be a non-empty list of layers")
    name = data.get("name", os.path.splitext(where)[0])
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: field 'name' must be a non-empty string, not {name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ValueError(f"{where}: field 'description' must be a string, not {description!r}")
    parsed = [_layer_from_dict(layer, i, where) for i, layer in enumerate(layers)]
    return Workload(name, batch, parsed, description)


def get_workload(spec, *, batch=None) -> Workload:
    """A built-in by name, or a layer file by path; ``batch`` overrides its batch size."""
    if isinstance(spec, Workload):
        workload = spec
    elif not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"Workload must be a name or a path, not {spec!r}")
    elif isinstance(spec, str) and spec in BUILTINS:
        workload = BUILTINS[spec]
    elif os.path.splitext(os.fspath(spec))[1] or os.path.exists(spec):
        workload = load_workload(spec)
    else:
        builtin(spec)  # raises the "unknown workload" error
    return workload if batch is None else workload.with_batch(batch)


def parse_gemms(text) -> tuple:
    """``'fwd,grad'`` → ``('fwd', 'grad')`` in canonical order; errors name the bad item."""
    if not isinstance(text, str):
        raise TypeError(f"GEMM list must be a string, not {text!r}")
    items = [t.strip().lower() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError("GEMM list must name at least one of fwd, bwd, grad")
    for item in items:
        if item not in GEMMS:
            raise ValueError(f"GEMM must be one of {', '.join(GEMMS)}, not {item!r}")
    return tuple(g for g in GEMMS if g in items)
