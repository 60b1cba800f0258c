"""The calibrator as ONNX nodes after the trees (float64): the fast path serves the calibrated P(default)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from credit_scoring.fastpath.calibration import Calibrator, IsotonicCalibrator, SigmoidCalibrator

if TYPE_CHECKING:
    import onnx

TREE_PROBABILITIES = "trees_probabilities"


def _node(op: str, inputs: list[str], output: str, **attributes: object) -> onnx.NodeProto:
    from onnx import helper

    return helper.make_node(op, inputs, [output], name=f"calibration_{output}", **attributes)


def _constant(name: str, values: np.ndarray) -> onnx.TensorProto:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(values, dtype=np.float64), name=name)


def add_calibration(exported: onnx.ModelProto, output: str, calibrator: Calibrator) -> None:
    """Rename the trees' ``output`` (n, 2) and compute ``output`` again as the calibrated probabilities.

    The log-odds are recovered as ``log(p) - log(1 - p)`` from the two columns the trees give, each exact
    to float32's relative precision (no cancellation near 0 or 1); the calibrator then runs in float64.
    """
    from onnx import TensorProto

    graph = exported.graph
    for node in graph.node:
        node.output[:] = [TREE_PROBABILITIES if name == output else name for name in node.output]
    nodes = [
        _node("Cast", [TREE_PROBABILITIES], "trees_double", to=TensorProto.DOUBLE),
        _node("Log", ["trees_double"], "trees_log"),
        _node("Slice", ["trees_log"], "log_repaid", axes=[1], starts=[0], ends=[1]),
        _node("Slice", ["trees_log"], "log_default", axes=[1], starts=[1], ends=[2]),
        _node("Sub", ["log_default", "log_repaid"], "raw_score"),
    ]
    tail, constants = _calibration_nodes(calibrator, "raw_score", "calibrated_default")
    nodes += [*tail, _node("Sub", ["one_double", "calibrated_default"], "calibrated_repaid")]
    nodes.append(_node("Concat", ["calibrated_repaid", "calibrated_default"], output, axis=1))
    graph.node.extend(nodes)
    graph.initializer.extend([*constants, _constant("one_double", np.ones(1))])
    for declared in graph.output:
        if declared.name == output:
            declared.type.tensor_type.elem_type = TensorProto.DOUBLE


def _calibration_nodes(
    calibrator: Calibrator, raw: str, output: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    if isinstance(calibrator, SigmoidCalibrator):
        return _sigmoid_nodes(calibrator, raw, output)
    if isinstance(calibrator, IsotonicCalibrator):
        return _isotonic_nodes(calibrator, raw, output)
    raise TypeError(f"no ONNX form for the calibrator {type(calibrator).__name__}")


def _sigmoid_nodes(
    calibrator: SigmoidCalibrator, raw: str, output: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    nodes = [
        _node("Mul", [raw, "sigmoid_slope"], "sigmoid_scaled"),
        _node("Add", ["sigmoid_scaled", "sigmoid_intercept"], "sigmoid_logit"),
        _node("Sigmoid", ["sigmoid_logit"], output),
    ]
    constants = [
        _constant("sigmoid_slope", np.array([calibrator.slope])),
        _constant("sigmoid_intercept", np.array([calibrator.intercept])),
    ]
    return nodes, constants


def _isotonic_nodes(
    calibrator: IsotonicCalibrator, raw: str, output: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """``np.interp`` with clipping, vectorised: ``y0 + sum_i slope_i * clip(raw - x_i, 0, x_i+1 - x_i)``."""
    knots = np.asarray(calibrator.knots_raw, dtype=np.float64)
    values = np.asarray(calibrator.knots_probability, dtype=np.float64)
    if knots.size < 2:  # a constant map: every row gets the one value
        nodes = [_node("Mul", [raw, "isotonic_zero"], "isotonic_nothing")]
        nodes.append(_node("Add", ["isotonic_nothing", "isotonic_start"], output))
        return nodes, [_constant("isotonic_zero", np.zeros(1)), _constant("isotonic_start", values[:1])]
    widths = np.diff(knots)
    nodes = [
        _node("Sub", [raw, "isotonic_left"], "isotonic_offset"),
        _node("Relu", ["isotonic_offset"], "isotonic_above"),
        _node("Min", ["isotonic_above", "isotonic_widths"], "isotonic_covered"),
        _node("MatMul", ["isotonic_covered", "isotonic_slopes"], "isotonic_rise"),
        _node("Add", ["isotonic_rise", "isotonic_start"], output),
    ]
    constants = [
        _constant("isotonic_left", knots[:-1].reshape(1, -1)),
        _constant("isotonic_widths", widths.reshape(1, -1)),
        _constant("isotonic_slopes", (np.diff(values) / widths).reshape(-1, 1)),
        _constant("isotonic_start", values[:1]),
    ]
    return nodes, constants
