"""Reading packaged weights and writing ONNX graphs with ``onnx`` and numpy alone (no torch).

The default model's weights ship inside pip packages as PyTorch files: EfficientNet-Lite0 in torch's
legacy serialisation (a stream of pickles followed by raw storage bytes), all-MiniLM-L6-v2 as
safetensors (framefind/data). Both formats are simple enough to read directly, so a plain install
builds its graphs without the 7 GB of torch (onnx_graphs_image.py, onnx_graphs_text.py).

The legacy reader unpickles with an allow-list (an ordered dict of tensors, nothing else): a weights
file cannot run code here, as ``torch.load(weights_only=True)`` would also refuse.
"""

from __future__ import annotations

import collections
import json
import pickle
import struct
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from framefind.errors import FrameFindError

OPSET = 17  # what convert.py's torch exports used: the same operators, the same ONNX Runtime kernels
IR_VERSION = 8

# torch's legacy storage classes, by the name their pickles refer to
_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64,
                       "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


class _StorageType(NamedTuple):
    dtype: Any


class _Storage:
    def __init__(self, dtype: Any, numel: int) -> None:
        self.dtype, self.numel = np.dtype(dtype), numel
        self.data: np.ndarray | None = None


class _TensorRef(NamedTuple):
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage, offset, size, stride, *_ignored) -> _TensorRef:
    """Stands in for torch._utils._rebuild_tensor(_v2): records where the tensor lies in its storage."""
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


class _LegacyUnpickler(pickle.Unpickler):
    def __init__(self, file, storages: dict[str, _Storage]) -> None:
        super().__init__(file)
        self.storages = storages

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise pickle.UnpicklingError(f"{module}.{name} has no place in a weights file")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel, view = pid
        if kind != "storage" or not isinstance(storage_type, _StorageType) or view is not None:
            raise pickle.UnpicklingError(f"unsupported storage record {pid!r}")
        return self.storages.setdefault(str(key), _Storage(storage_type.dtype, int(numel)))


def read_torch_legacy(path: Path) -> dict[str, np.ndarray]:
    """A state dict saved by ``torch.save`` before the zip format (torch < 1.6): name -> array.

    Layout (torch/serialization.py ``_legacy_load``): pickled magic number, protocol version and
    system info; the pickled object, whose tensors name their storages by persistent id; the pickled
    list of storage keys; then each storage in that order as an int64 element count and its raw bytes."""
    storages: dict[str, _Storage] = {}
    try:
        with open(path, "rb") as fh:
            def load():  # every pickle of the file, header included, through the allow-list
                return _LegacyUnpickler(fh, storages).load()

            if load() != _LEGACY_MAGIC or load() != _LEGACY_PROTOCOL:
                raise FrameFindError(f"{path}: not a legacy PyTorch weights file")
            info = load()
            if not isinstance(info, dict) or not info.get("little_endian", True):
                raise FrameFindError(f"{path}: big-endian PyTorch weights are not supported")
            state = load()
            for key in load():
                storage = storages[str(key)]
                (count,) = struct.unpack("<q", fh.read(8))
                data = fh.read(count * storage.dtype.itemsize)
                if count != storage.numel or len(data) != count * storage.dtype.itemsize:
                    raise FrameFindError(f"{path}: storage {key} is truncated or mis-sized")
                storage.data = np.frombuffer(data, storage.dtype)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, ValueError, struct.error) as exc:
        raise FrameFindError(f"{path}: cannot read the PyTorch weights ({exc})") from None
    return {name: _materialise(path, name, ref) for name, ref in state.items()}


def _materialise(path: Path, name: str, ref: _TensorRef) -> np.ndarray:
    """The tensor as a contiguous array, honouring its strides (these weights were saved from
    channels-last views of TensorFlow's)."""
    data, itemsize = ref.storage.data, ref.storage.dtype.itemsize
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True) if n > 0)
    if data is None or (all(ref.size) and last >= len(data)):
        raise FrameFindError(f"{path}: tensor {name} lies outside its storage")
    view = np.lib.stride_tricks.as_strided(data[ref.offset:], shape=ref.size,
                                           strides=[s * itemsize for s in ref.stride], writeable=False)
    return view.copy(order="C")  # (ascontiguousarray would make a 0-d tensor 1-d)


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """A safetensors file: an 8-byte little-endian header length, a JSON header (name -> dtype, shape,
    byte offsets into the buffer that follows), then the raw little-endian buffers."""
    try:
        raw = path.read_bytes()
        (length,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + length])
        buffer = memoryview(raw)[8 + length:]
        arrays = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            begin, end = entry["data_offsets"]
            dtype = np.dtype(_SAFETENSORS_DTYPES[entry["dtype"]]).newbyteorder("<")
            array = np.frombuffer(buffer[begin:end], dtype).reshape(entry["shape"])
            arrays[name] = array.astype(dtype.newbyteorder("="))  # a native-order copy
    except (OSError, ValueError, KeyError, struct.error) as exc:
        raise FrameFindError(f"{path}: cannot read the safetensors weights ({exc})") from None
    return arrays


class GraphBuilder:
    """Collects nodes and initialisers. Each node's outputs are named ``<node name>_output_<i>``, as
    torch's exporter names them, so recipes keyed by tensor names (convert.py's int8 table) apply."""

    def __init__(self) -> None:
        from onnx import helper

        self._helper = helper
        self.nodes: list = []
        self.initializers: list = []
        self._names: set[str] = set()

    def const(self, name: str, value: np.ndarray | float | int | list, dtype: Any = np.float32) -> str:
        """An initialiser (made once per name), returned by name."""
        from onnx import numpy_helper

        if name not in self._names:
            self._names.add(name)
            self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, name: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        out = output or f"{name}_output_0"
        self.nodes.append(self._helper.make_node(op_type, inputs, [out], name=name, **attrs))
        return out

    def model(self, inputs: list, outputs: list, graph_name: str):
        """The ONNX model (opset 17, checked)."""
        import onnx

        graph = self._helper.make_graph(self.nodes, graph_name, inputs, outputs, self.initializers)
        model = self._helper.make_model(graph, opset_imports=[self._helper.make_opsetid("", OPSET)],
                                        producer_name="framefind", ir_version=IR_VERSION)
        onnx.checker.check_model(model)
        return model

    def tensor(self, name: str, elem_type: int, shape: list):
        return self._helper.make_tensor_value_info(name, elem_type, shape)
