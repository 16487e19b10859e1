"""Graph surgery on tiny generated models (made here, in the test, by onnx.helper + ORT's quantizer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from parley_engine.graphs import dequantize_matmuls, extract
from parley_engine.onnxrt import make_session


def _tiny_float_model(path: Path) -> None:
    """x [N, 16] -> MatMul W1 [16, 32] -> Relu -> h -> MatMul W2 [32, 8] -> y"""
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((16, 32)).astype(np.float32), "W1")
    w2 = numpy_helper.from_array(rng.standard_normal((32, 8)).astype(np.float32), "W2")
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["a"], name="mm1"),
        helper.make_node("Relu", ["a"], ["h"], name="relu"),
        helper.make_node("MatMul", ["h", "W2"], ["y"], name="mm2"),
    ]
    g = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
        [w1, w2],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))


def test_extract_splits_at_an_inner_tensor(tmp_path: Path) -> None:
    src = tmp_path / "tiny.onnx"
    _tiny_float_model(src)
    front = extract(src, tmp_path / "front.onnx", ["x"], ["h"])
    back = extract(src, tmp_path / "back.onnx", ["h"], ["y"])
    x = np.random.default_rng(1).standard_normal((5, 16)).astype(np.float32)
    (full,) = make_session(src).run(None, {"x": x})
    (h,) = make_session(front).run(None, {"x": x})
    (y,) = make_session(back).run(None, {"h": h})
    np.testing.assert_allclose(y, full, rtol=1e-5, atol=1e-5)


def test_dequantize_turns_dynamic_int8_matmuls_into_float(tmp_path: Path) -> None:
    src = tmp_path / "tiny.onnx"
    q = tmp_path / "tiny.int8.onnx"
    _tiny_float_model(src)
    quantize_dynamic(str(src), str(q), weight_type=QuantType.QInt8)
    qm = onnx.load(str(q))
    assert any(n.op_type == "MatMulInteger" for n in qm.graph.node)

    fm = dequantize_matmuls(qm)
    ops = {n.op_type for n in fm.graph.node}
    assert "MatMulInteger" not in ops and "DynamicQuantizeLinear" not in ops
    onnx.checker.check_model(fm)
    out = tmp_path / "deq.onnx"
    onnx.save(fm, str(out))

    x = np.random.default_rng(2).standard_normal((7, 16)).astype(np.float32)
    (ref,) = make_session(src).run(None, {"x": x})
    (deq,) = make_session(out).run(None, {"x": x})
    # int8 weights: close to the float model, and row-wise independent (chunking a batch is exact)
    assert np.abs(deq - ref).max() < 0.05 * np.abs(ref).max()
    (part,) = make_session(out).run(None, {"x": x[:3]})
    np.testing.assert_allclose(part, deq[:3], rtol=1e-6, atol=1e-6)
