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

    The log-odds are ``log(p) - log(1 - p)`` from the two columns the trees give, each exact to float32's
    relative precision (no cancellation near 0 or 1); the calibrator then runs in float64.
    """
    from onnx import TensorProto

    graph = exported.graph
    for node in graph.node:
        node.output[:] = [TREE_PROBABILITIES if name == output else name for name in node.output]
    nodes = [
        _node("Cast", [TREE_PROBABILITIES], "trees_double", to=TensorProto.DOUBLE),
        _node("Log", ["trees_double"], "trees_log"),
    ]
    tail, constants = _calibration_nodes(calibrator, "trees_log", output)
    graph.node.extend([*nodes, *tail])
    graph.initializer.extend(constants)
    for declared in graph.output:
        if declared.name == output:
            declared.type.tensor_type.elem_type = TensorProto.DOUBLE


def _calibration_nodes(
    calibrator: Calibrator, log_probabilities: str, output: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    if isinstance(calibrator, SigmoidCalibrator):
        return _sigmoid_nodes(calibrator, log_probabilities, output)
    if isinstance(calibrator, IsotonicCalibrator):
        return _isotonic_nodes(calibrator, log_probabilities, output)
    raise TypeError(f"no ONNX form for the calibrator {type(calibrator).__name__}")


def _sigmoid_nodes(
    calibrator: SigmoidCalibrator, log_probabilities: str, output: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Both columns in three nodes (each costs time on the one-row path): ``[log q, log p] @ W + c`` is
    ``[-logit, logit]``, ``logit = slope * (log p - log q) + intercept``; Sigmoid gives ``[1-P, P]``."""
    slope, intercept = calibrator.slope, calibrator.intercept
    weights = np.array([[slope, -slope], [-slope, slope]])
    nodes = [
        _node("MatMul", [log_probabilities, "sigmoid_weights"], "sigmoid_scaled"),
        _node("Add", ["sigmoid_scaled", "sigmoid_intercepts"], "sigmoid_logits"),
        _node("Sigmoid", ["sigmoid_logits"], output),
    ]
    constants = [
        _constant("sigmoid_weights", weights),
        _constant("sigmoid_intercepts", np.array([-intercept, intercept])),
    ]
    return nodes, constants


def _isotonic_nodes(
    calibrator: IsotonicCalibrator, log_probabilities: str, output: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """``np.interp`` with clipping, vectorised: ``y0 + sum_i slope_i * clip(raw - x_i, 0, x_i+1 - x_i)``."""
    knots = np.asarray(calibrator.knots_raw, dtype=np.float64)
    values = np.asarray(calibrator.knots_probability, dtype=np.float64)
    if knots.size < 2:  # a constant map: left and right of a single knot alike
        knots, values = np.append(knots, knots[0] + 1.0), np.append(values, values[0])
    widths = np.diff(knots)
    nodes = [
        _node("MatMul", [log_probabilities, "isotonic_difference"], "raw_score"),
        _node("Sub", ["raw_score", "isotonic_left"], "isotonic_offset"),
        _node("Relu", ["isotonic_offset"], "isotonic_above"),
        _node("Min", ["isotonic_above", "isotonic_widths"], "isotonic_covered"),
        _node("MatMul", ["isotonic_covered", "isotonic_slopes"], "isotonic_rise"),
        _node("Add", ["isotonic_rise", "isotonic_start"], "isotonic_default"),
        _node("Sub", ["isotonic_one", "isotonic_default"], "isotonic_repaid"),
        _node("Concat", ["isotonic_repaid", "isotonic_default"], output, axis=1),
    ]
    constants = [
        _constant("isotonic_difference", np.array([[-1.0], [1.0]])),
        _constant("isotonic_left", knots[:-1].reshape(1, -1)),
        _constant("isotonic_widths", widths.reshape(1, -1)),
        _constant("isotonic_slopes", (np.diff(values) / widths).reshape(-1, 1)),
        _constant("isotonic_start", values[:1]),
        _constant("isotonic_one", np.ones(1)),
    ]
    return nodes, constants
