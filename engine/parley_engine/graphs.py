"""Load-time ONNX graph surgery: split a model at a frame-level tensor, and turn dynamically
quantised MatMuls back into float MatMuls.

Why dequantise: ``DynamicQuantizeLinear`` picks its scale from the min/max of the whole input
tensor, so a decoder run on a chunk of frames quantises differently from one run on the whole
utterance; with float weights each output frame depends only on its receptive field, and chunked
decoding with enough context equals the one-shot decode to float rounding.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

__all__ = ["dequantize_matmuls", "extract"]


def extract(
    src: Path, dst: Path, inputs: Sequence[str], outputs: Sequence[str], *, dequantize: bool = False
) -> Path:
    """Write the subgraph of ``src`` between ``inputs`` and ``outputs`` to ``dst`` atomically."""
    from onnx.utils import Extractor

    model = onnx.shape_inference.infer_shapes(onnx.load(str(src)))
    sub = Extractor(model).extract_model(list(inputs), list(outputs))
    if dequantize:
        sub = dequantize_matmuls(sub)
    onnx.checker.check_model(sub)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, suffix=".onnx.tmp")
    os.close(fd)
    try:
        onnx.save(sub, tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dst


def dequantize_matmuls(model: onnx.ModelProto) -> onnx.ModelProto:
    """Replace each DynamicQuantizeLinear → MatMulInteger → Cast → Mul(scale) chain whose weight is a
    constant int8/uint8 initializer with one float MatMul on dequantised weights."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    new_inits: list[onnx.TensorProto] = []
    made: set[str] = set()
    replace: dict[int, onnx.NodeProto] = {}
    for n in g.node:
        if n.op_type != "MatMulInteger":
            continue
        a_q, b_q, _a_zp, b_zp = n.input
        dq = producer.get(a_q)
        cons = consumers.get(n.output[0], [])
        if dq is None or dq.op_type != "DynamicQuantizeLinear" or b_q not in inits or len(cons) != 1:
            continue
        cast = cons[0]
        muls = consumers.get(cast.output[0], [])
        if cast.op_type != "Cast" or len(muls) != 1 or muls[0].op_type != "Mul":
            continue
        mul = muls[0]
        scale_name = next(i for i in mul.input if i != cast.output[0])
        scale_mul = producer.get(scale_name)
        if scale_mul is None or scale_mul.op_type != "Mul":
            continue
        w_scale_name = next((i for i in scale_mul.input if i in inits), None)
        if w_scale_name is None:
            continue
        w = numpy_helper.to_array(inits[b_q]).astype(np.float32)
        zp = numpy_helper.to_array(inits[b_zp]).astype(np.float32) if b_zp in inits else np.float32(0)
        scale = numpy_helper.to_array(inits[w_scale_name]).astype(np.float32)
        w_f = ((w - zp) * scale).astype(np.float32)
        w_name = f"{b_q}_{w_scale_name}_dequantized"
        if w_name not in made:
            made.add(w_name)
            new_inits.append(numpy_helper.from_array(w_f, w_name))
        replace[id(mul)] = helper.make_node(
            "MatMul", [dq.input[0], w_name], list(mul.output), name=n.name + "_float"
        )

    if not replace:
        return model
    nodes = [replace.get(id(n), n) for n in g.node]
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(new_inits)
    _prune(model)
    return model


def _prune(model: onnx.ModelProto) -> None:
    """Drop nodes and initializers that no graph output depends on."""
    g = model.graph
    needed = {o.name for o in g.output}
    keep: list[onnx.NodeProto] = []
    for n in reversed(list(g.node)):
        if any(o in needed for o in n.output):
            keep.append(n)
            needed.update(i for i in n.input if i)
    keep.reverse()
    del g.node[:]
    g.node.extend(keep)
    inits = [i for i in g.initializer if i.name in needed]
    del g.initializer[:]
    g.initializer.extend(inits)
