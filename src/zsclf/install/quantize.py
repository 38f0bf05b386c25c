"""int8 siblings of the exported float models.

An image model: ONNX Runtime static QDQ quantization (per-channel int8 weights, uint8 activations) with
activation ranges that ship with the package. The text model: dynamic quantization of its weight matrix
products (no ranges: each batch's activations are quantized when it runs), see `quantize_text_model`.

The ranges are computed once from photos (`tools/make_int8_ranges.py`, MinMax over 100
imagenet-sample photos) and committed as `labels/<model>-int8.ranges.json`, so `zsclf setup` on a
wheel-only install needs no photos and quantizes offline. Given the same float model, two quantizations
give the same bytes; the float bytes themselves differ between machines in the last bits (torch folds
batch norm with the CPU's own float kernels), and so do the int8 bytes made from them.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from ..core import paths
from ..core.fsio import atomic_file
from ..errors import ZsclfError
from ..models.registry import Preprocess, sha256_file

INT8_SUFFIX = "-int8"
METHOD = "MinMax"
QUANTIZATION = {"tool": "onnxruntime.quantization quant_pre_process + QDQQuantizer", "format": "QDQ",
                "weights": "int8 per channel; 7-bit range except depthwise convolutions",
                "float_nodes": "the first convolution and those giving the outputs",
                "activations": "uint8 asymmetric", "calibration": METHOD}


TEXT_QUANTIZATION = {"tool": "onnxruntime.quantization quantize_dynamic", "format": "dynamic (DynamicQuantizeMatMul)",
                     "weights": "int8 per channel, 7-bit range", "quantized_nodes": "matrix products with a weight",
                     "activations": "uint8 asymmetric, each batch's own range when it runs"}


def is_int8(name: str) -> bool:
    """Whether a registry name is an int8 sibling (`efficientnet-lite0-int8`)."""
    return name.endswith(INT8_SUFFIX)


def float_name(name: str) -> str:
    """The float model an int8 sibling is made from."""
    return name[: -len(INT8_SUFFIX)] if is_int8(name) else name


def ranges_path(name: str) -> Path:
    """The committed activation ranges of the int8 sibling of float model `name` (shipped with the package)."""
    return paths.PACKAGED_LABELS / f"{float_name(name)}{INT8_SUFFIX}.ranges.json"


def ranges_document(ranges: dict[str, tuple[float, float]], *, model: str, float_sha256: str, photos: int,
                    made_by: str) -> dict:
    """The JSON document `make_int8_ranges` commits: tensor name -> [lowest, highest] (float32 values)."""
    return {"format": 1, "model": model, "method": METHOD, "photos": photos, "made_by": made_by,
            "float_sha256": float_sha256,
            "ranges": {k: [float(lo), float(hi)] for k, (lo, hi) in sorted(ranges.items())}}


def load_ranges(name: str) -> dict[str, list[float]]:
    """The committed ranges for float model `name`, or a ZsclfError naming the missing or damaged file."""
    path = ranges_path(name)
    try:
        ranges = json.loads(path.read_text())["ranges"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ZsclfError(f"{path}: no usable int8 activation ranges for {float_name(name)} ({type(exc).__name__}): "
                         "run tools/make_int8_ranges.py") from None
    return ranges


def prepared(float_model: Path, work: Path) -> Path:
    """ONNX Runtime's quantization pre-processing of `float_model` into `work` (shape inference, the TF-style
    padding sub-graphs folded into the convolutions): calibration and quantization both start from it."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = work / "prepared.onnx"
    quant_pre_process(str(float_model), str(out), skip_symbolic_shape=True)
    return out


def quantize_model(float_model: Path, out: Path, ranges: dict[str, list[float]]) -> None:
    """Quantize `float_model` into `out` (written atomically) with the given activation ranges; deterministic.

    Per-channel int8 weights, uint8 activations. Weights of the convolutions that run as matrix products get
    7 bits (`reduce_range`: CPUs without VNNI multiply uint8 x int8 pairs into int16 with saturation, which
    cost 4.7 pt top-1 at 8 bits on an AVX2 CPU); depthwise ones keep 8 (their kernel sums in int32). The
    first convolution (3 input channels) and the nodes that give the outputs (pooling, classifier) stay
    float. Measured choices: docs/int8.md."""
    import numpy as np
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorData, TensorsData
    from onnxruntime.quantization.qdq_quantizer import QDQQuantizer
    from onnxruntime.quantization.quant_utils import load_model_with_shape_infer
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    with tempfile.TemporaryDirectory(prefix="zsclf-int8-") as work:
        model = load_model_with_shape_infer(prepared(float_model, Path(work)))
    known = {v.name for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]}
    if not ranges or (unknown := sorted(set(ranges) - known)):
        raise ZsclfError(f"{float_model}: the int8 ranges name tensors this model does not have "
                         f"({unknown[0] if ranges else 'none given'}): re-run tools/make_int8_ranges.py")
    outputs = {o.name for o in model.graph.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    float_nodes = sorted({convs[0].name, *(n.name for n in model.graph.node if outputs & set(n.output))})
    data = {k: TensorData(lowest=np.array(lo, dtype=np.float32), highest=np.array(hi, dtype=np.float32))
            for k, (lo, hi) in ranges.items()}
    depthwise = sorted(n.input[1] for n in convs if any(a.name == "group" and a.i > 1 for a in n.attribute))
    full_range = {"TensorQuantOverrides": {w: [{"axis": 0, "reduce_range": False}] for w in depthwise}}
    quantizer = QDQQuantizer(model, True, True, QuantType.QInt8, QuantType.QUInt8,
                             TensorsData(CalibrationMethod.MinMax, data), [], float_nodes,
                             sorted(set(QLinearOpsRegistry) | set(QDQRegistry)), full_range)
    quantizer.quantize_model()
    with atomic_file(out) as fh:
        fh.write(quantizer.model.model.SerializeToString())


def int8_entry(float_entry: dict, models_dir: Path, name: str) -> dict:
    """Quantize the exported float model of `float_entry` into `<name>.onnx`; return the int8 manifest entry
    (the float entry's input, outputs, classifier and source weights, plus how it was quantized)."""
    out = models_dir / f"{name}.onnx"
    quantize_model(models_dir / float_entry["file"], out, load_ranges(name))
    ranges = ranges_path(name)
    return {**float_entry, "file": out.name, "sha256": sha256_file(out), "bytes": out.stat().st_size,
            "quantized": {**QUANTIZATION, "from": float_entry["file"], "from_sha256": float_entry["sha256"],
                          "ranges": ranges.name, "ranges_sha256": sha256_file(ranges)}}


def calibration_photos(folder: Path, count: int = 100) -> list[Path]:
    """Every k-th photo of a sorted folder walk, `count` in all (spread over the classes)."""
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    step = max(1, len(photos) // count)
    return photos[::step][:count]


def compute_ranges(float_model: Path, preprocess: Preprocess, photos: list[Path],
                   work: Path) -> dict[str, tuple[float, float]]:
    """MinMax activation ranges of `float_model` over `photos` (preprocessed as zsclf does); `work` holds
    ONNX Runtime's augmented model."""
    import numpy as np
    from onnxruntime.quantization.calibrate import CalibrationDataReader, create_calibrator

    from ..pipeline.images import load_and_preprocess

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(photos)

        def get_next(self) -> dict | None:
            path = next(self.items, None)
            return None if path is None else {preprocess.name: load_and_preprocess(str(path), preprocess)[None]}

    calibrator = create_calibrator(prepared(float_model, work), [], augmented_model_path=str(work / "augmented.onnx"))
    calibrator.collect_data(Reader())
    return {k: (float(np.asarray(v.range_value[0]).reshape(-1)[0]), float(np.asarray(v.range_value[1]).reshape(-1)[0]))
            for k, v in calibrator.compute_data().data.items()}


def quantize_text_model(float_model: Path, out: Path) -> None:
    """Quantize a text encoder (all-MiniLM-L6-v2) into `out` (written atomically); deterministic, no data needed.

    Dynamic quantization of the matrix products that multiply by a weight (the attention projections and
    the feed-forward layers: nearly all the work): per-channel int8 weights in a 7-bit range (CPUs without
    VNNI saturate uint8 x int8 pairs at 8 bits: label-vector cosine to float 0.966 mean at 8 bits per
    tensor, 0.993 here), activations quantized per batch at run time. Embedding tables, attention scores,
    layer norms and pooling stay float. Static ranges were measured and rejected: 0.939 mean cosine
    (docs/index_build.md)."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(float_model))
    weights = {i.name for i in model.graph.initializer}
    weights |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    activations_only = [n.name for n in model.graph.node if n.op_type == "MatMul" and not weights & set(n.input)]
    root, level = logging.getLogger(), logging.getLogger().level
    with tempfile.TemporaryDirectory(prefix="zsclf-int8-") as work:
        tmp = Path(work) / "text-int8.onnx"
        root.setLevel(logging.ERROR)  # its advice to pre-process is for image models
        try:
            quantize_dynamic(float_model, tmp, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"],
                             per_channel=True, reduce_range=True, nodes_to_exclude=activations_only)
        finally:
            root.setLevel(level)
        with atomic_file(out) as fh:
            fh.write(tmp.read_bytes())


def text_int8_entry(float_entry: dict, models_dir: Path, name: str) -> dict:
    """Quantize the exported float text model of `float_entry` into `<name>.onnx`; return its manifest entry
    (the float entry's tokenizer, inputs and outputs, plus how it was quantized)."""
    out = models_dir / f"{name}.onnx"
    quantize_text_model(models_dir / float_entry["file"], out)
    return {**float_entry, "file": out.name, "sha256": sha256_file(out), "bytes": out.stat().st_size,
            "quantized": {**TEXT_QUANTIZATION, "from": float_entry["file"], "from_sha256": float_entry["sha256"]}}
