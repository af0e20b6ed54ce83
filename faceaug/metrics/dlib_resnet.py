"""dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`, shipped by face_recognition_models)
run by PyTorch: the same 128-D descriptors as `dlib.face_recognition_model_v1`, batched and on PyTorch's CPU
kernels (dlib's own wheels run their convolutions without BLAS: ~85 ms a face on a 2-core Xeon, against a few ms
here; docs/results.md).

    net = DlibResnet.load(model_file("dlib_face_recognition_resnet_model_v1.dat"))
    descriptors = net(chips)        # uint8 RGB (B, 150, 150, 3) face chips (dlib.get_face_chips, padding 0.25)

The weights are read from the user's installed file at run time (never shipped with faceaug). dlib writes a network
as its layers' records from the input up: a record starts with the layer's name as a dlib string, then its
numbers (dlib's variable-length integers, floats as mantissa and exponent) and its parameters as a tensor (a
version, four dimensions, then little-endian float32). The file is read as that sequence of records and checked
against the network dlib documents for it: a 7×7 stem (convolution, affine, ReLU, 3×3 max pool), residual units
(3×3 convolution, affine, ReLU, 3×3 convolution, affine, added to the unit's input, ReLU; a unit that halves the
size adds a 2×2 average pool of its input instead, zero-padded to its channels), a global average pool and a
128-output linear layer without bias. Anything else is refused (a ValueError naming the file and what was found).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

CHIP_SIDE = 150  # the network's input side (dlib's input_rgb_image_sized<150>)
_NAMES = ("input_rgb_image_sized", "con_4", "affine_", "relu_", "max_pool_2", "avg_pool_2", "add_prev_", "fc_2")


class _Reader:
    """dlib's serialization primitives over the file's bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def int(self, pos: int) -> tuple[int, int]:
        """A dlib integer: a control byte (low nibble: how many little-endian bytes follow, bit 7: negative)."""
        control = self.data[pos]
        n = control & 0x0F
        if not 1 <= n <= 8:
            raise ValueError(f"byte {pos}: {control:#x} is not a dlib integer")
        value = int.from_bytes(self.data[pos + 1 : pos + 1 + n], "little")
        return (-value if control & 0x80 else value), pos + 1 + n

    def float(self, pos: int) -> tuple[float, int]:
        """A dlib float: mantissa then exponent, both dlib integers (value = mantissa × 2^exponent)."""
        mantissa, pos = self.int(pos)
        exponent, pos = self.int(pos)
        return float(np.ldexp(float(mantissa), exponent)), pos

    def tensor(self, pos: int) -> tuple[np.ndarray, int]:
        """A dlib tensor (version 2): its (n, k, nr, nc) dimensions, then n·k·nr·nc little-endian float32."""
        version, pos = self.int(pos)
        if version != 2:
            raise ValueError(f"byte {pos}: tensor version {version}, expected 2")
        dims = []
        for _ in range(4):
            value, pos = self.int(pos)
            dims.append(value)
        size = int(np.prod(dims))
        if pos + 4 * size > len(self.data):
            raise ValueError(f"byte {pos}: a tensor of {dims} runs past the end of the file")
        values = np.frombuffer(self.data, "<f4", size, pos).astype(np.float32).reshape(dims)
        return values, pos + 4 * size


@dataclass
class _Layer:
    kind: str  # conv | affine | relu | max_pool | avg_pool | add | fc
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    size: int = 0  # pooling / kernel side (0: the whole map)
    stride: int = 1
    padding: int = 0


def _read_layers(data: bytes) -> tuple[np.ndarray, list[_Layer]]:
    """(the input's mean R, G, B, the layers from the input up) of a dlib network file."""
    reader = _Reader(data)
    pattern = b"|".join(re.escape(bytes([1, len(name)]) + name.encode()) for name in _NAMES)
    mean, layers = None, []
    for match in re.finditer(pattern, data):
        name, pos = match.group()[2:].decode(), match.end()
        if name == "input_rgb_image_sized":
            values = []
            for _ in range(3):
                value, pos = reader.float(pos)
                values.append(value)
            mean = np.asarray(values, np.float32)
        elif name == "con_4":
            params, pos = reader.tensor(pos)
            geometry = []
            for _ in range(7):  # filters, rows, columns, stride y, stride x, padding y, padding x
                value, pos = reader.int(pos)
                geometry.append(value)
            filters, rows, cols, stride_y, stride_x, pad_y, pad_x = geometry
            if rows != cols or stride_y != stride_x or pad_y != pad_x:
                raise ValueError(f"a {rows}×{cols} convolution with strides {stride_y, stride_x}: not square")
            flat = params.reshape(-1)
            channels = (flat.size - filters) // (filters * rows * cols)
            if channels * filters * rows * cols + filters != flat.size:
                raise ValueError(f"a convolution's {flat.size} parameters do not fit {filters} {rows}×{cols} filters")
            weight = flat[:-filters].reshape(filters, channels, rows, cols)
            layers.append(
                _Layer("conv", torch.from_numpy(weight.copy()), torch.from_numpy(flat[-filters:].copy()), rows,
                       stride_y, pad_y)
            )  # fmt: skip
        elif name == "affine_":
            params, pos = reader.tensor(pos)
            gamma, beta = np.split(params.reshape(-1), 2)
            layers.append(_Layer("affine", torch.from_numpy(gamma.copy()), torch.from_numpy(beta.copy())))
        elif name == "relu_":
            layers.append(_Layer("relu"))
        elif name in ("max_pool_2", "avg_pool_2"):
            geometry = []
            for _ in range(6):  # rows, columns, stride y, stride x, padding y, padding x
                value, pos = reader.int(pos)
                geometry.append(value)
            rows, cols, stride, _, pad, _ = geometry
            if rows != cols:
                raise ValueError(f"a {rows}×{cols} pool: not square")
            layers.append(_Layer(name[:8], size=rows, stride=stride, padding=pad))
        elif name == "add_prev_":
            layers.append(_Layer("add"))
        else:  # fc_2: outputs, inputs, then the (inputs, outputs) weight matrix
            outputs, pos = reader.int(pos)
            inputs, pos = reader.int(pos)
            params, pos = reader.tensor(pos)
            if params.size != inputs * outputs:
                raise ValueError(f"a linear layer of {params.size} parameters is not {inputs}×{outputs}")
            layers.append(_Layer("fc", torch.from_numpy(params.reshape(inputs, outputs).T.copy())))
    if mean is None:
        raise ValueError("no input layer (input_rgb_image_sized) in the file")
    return mean, layers


def _conv(layer: _Layer, x: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, layer.weight, layer.bias, stride=layer.stride, padding=layer.padding)


def _affine(layer: _Layer, x: torch.Tensor) -> torch.Tensor:
    return x * layer.weight.view(1, -1, 1, 1) + layer.bias.view(1, -1, 1, 1)


def _add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add of two maps of different sizes: the larger size, each map at the top left, zeros elsewhere."""
    if a.shape == b.shape:
        return a + b
    shape = [max(p, q) for p, q in zip(a.shape, b.shape)]
    out = a.new_zeros(shape)
    out[: a.shape[0], : a.shape[1], : a.shape[2], : a.shape[3]] += a
    out[: b.shape[0], : b.shape[1], : b.shape[2], : b.shape[3]] += b
    return out


class DlibResnet(torch.nn.Module):
    """dlib's face-recognition network; `forward` takes uint8 RGB chips (B, 150, 150, 3), returns (B, 128)."""

    def __init__(self, mean: np.ndarray, layers: list[_Layer]) -> None:
        super().__init__()
        kinds = [layer.kind for layer in layers]
        stem, rest = kinds[:4], kinds[4:]
        if stem != ["conv", "affine", "relu", "max_pool"] or rest[-2:] != ["avg_pool", "fc"]:
            raise ValueError(f"its layers start {stem} and end {rest[-2:]}")
        self.register_buffer("mean", torch.from_numpy(mean).view(1, 3, 1, 1))
        self.stem = layers[:4]
        self.units: list[list[_Layer]] = []
        body, unit = rest[:-2], []
        for layer, kind in zip(layers[4:-2], body):
            unit.append(layer)
            if kind == "relu" and len(unit) > 3:  # the ReLU after a unit's add closes it
                shape = [part.kind for part in unit]
                plain = ["conv", "affine", "relu", "conv", "affine", "add", "relu"]
                down = ["conv", "affine", "relu", "conv", "affine", "avg_pool", "add", "relu"]
                if shape not in (plain, down):
                    raise ValueError(f"a residual unit of {shape}")
                self.units.append(unit)
                unit = []
        if unit or not self.units:
            raise ValueError(f"{len(unit)} layers left after its residual units")
        self.pool, self.fc = layers[-2], layers[-1]
        if self.pool.size != 0:
            raise ValueError("its last pool is not global")

    @classmethod
    def load(cls, path: Path) -> DlibResnet:
        """The network of a dlib file; ValueError naming the file and what is wrong when it is not this one."""
        try:
            return cls(*_read_layers(Path(path).read_bytes())).eval()
        except (ValueError, IndexError) as exc:  # IndexError: a record cut off by the end of the file
            raise ValueError(f"{path} is not dlib's face-recognition ResNet ({exc})") from None

    @torch.inference_mode()
    def forward(self, chips: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(chips)).permute(0, 3, 1, 2).float()
        x = (x - self.mean) / 256.0
        conv, affine, _, pool = self.stem
        x = F.relu(_affine(affine, _conv(conv, x)))
        x = F.max_pool2d(x, pool.size, pool.stride, pool.padding)
        for unit in self.units:
            y = F.relu(_affine(unit[1], _conv(unit[0], x)))
            y = _affine(unit[4], _conv(unit[3], y))
            if unit[5].kind == "avg_pool":
                x = F.avg_pool2d(x, unit[5].size, unit[5].stride, unit[5].padding)
            x = F.relu(_add_padded(y, x))
        x = x.mean(dim=(2, 3))
        return x @ self.fc.weight.T
