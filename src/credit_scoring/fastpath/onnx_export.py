"""LightGBM to ONNX (onnxmltools) with split thresholds made exact for float32 inputs, as bytes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from lightgbm import Booster, LGBMClassifier
from sklearn.pipeline import Pipeline

from credit_scoring.errors import ModelError
from credit_scoring.fastpath.calibration import CalibratedClassifier, Calibrator
from credit_scoring.fastpath.onnx_calibration import add_calibration
from credit_scoring.model_layout import CLASSIFIER_STEP

if TYPE_CHECKING:  # the onnx package is needed to export, not to serve (ONNX Runtime reads the bytes)
    import onnx

ONNX_INPUT = "features"
ONNX_PROBABILITIES = "probabilities"
# onnxmltools' LightGBM converter emits ai.onnx.ml v1 trees (float thresholds) up to this opset.
TARGET_OPSET = 15
TREE_OP = "TreeEnsembleClassifier"


class OnnxExportError(ModelError, RuntimeError):
    """The model cannot be exported faithfully; the message says which part and why."""


def _final_step(model: Pipeline | LGBMClassifier | CalibratedClassifier) -> Any:
    return model.named_steps.get(CLASSIFIER_STEP) if isinstance(model, Pipeline) else model


def calibrator_of(model: Pipeline | LGBMClassifier | CalibratedClassifier) -> Calibrator | None:
    """The calibrator on the trees' output, or None for a model that serves the trees' own probability."""
    step = _final_step(model)
    return step.calibrator if isinstance(step, CalibratedClassifier) else None


def classifier_of(model: Pipeline | LGBMClassifier | CalibratedClassifier) -> LGBMClassifier:
    """The fitted LightGBM classifier of the registered pipeline (or the classifier itself), without the
    calibrator a trained pipeline puts on its output."""
    classifier = _final_step(model)
    if isinstance(classifier, CalibratedClassifier):
        classifier = classifier.estimator
    if not isinstance(classifier, LGBMClassifier) or not hasattr(classifier, "booster_"):
        raise OnnxExportError(
            f"expected a fitted LGBMClassifier (or a pipeline whose {CLASSIFIER_STEP!r} step is one), "
            f"got {type(classifier).__name__}"
        )
    return classifier


def convert_classifier_to_onnx(model: Pipeline | LGBMClassifier, n_features: int | None = None) -> bytes:
    """The classifier as a serialised ONNX model: float32 ``features`` (n, n_features) in, ``probabilities``
    (n, 2) out, no ZipMap; thresholds re-rounded so every tree routes every float32 row as LightGBM does.
    A calibrated pipeline's calibrator is part of the graph (float64 output), so every consumer of the
    bytes (the service, batch scoring, Spark) gets the calibrated probability."""
    import onnx
    import onnxmltools  # heavy import, only needed when exporting
    from onnxmltools.convert.common.data_types import FloatTensorType

    classifier = classifier_of(model)
    expected = int(classifier.n_features_in_)
    if n_features is not None and n_features != expected:
        raise OnnxExportError(f"the classifier was fitted on {expected} features, not {n_features}")
    exported = onnxmltools.convert_lightgbm(
        classifier,
        initial_types=[(ONNX_INPUT, FloatTensorType([None, expected]))],
        target_opset=TARGET_OPSET,
        zipmap=False,
    )
    match_lightgbm_routing(exported, classifier.booster_)
    _declare_label_batch_dimension(exported)
    calibrator = calibrator_of(model)
    if calibrator is not None:
        add_calibration(exported, ONNX_PROBABILITIES, calibrator)
    onnx.checker.check_model(exported)
    return exported.SerializeToString()


def match_lightgbm_routing(exported: onnx.ModelProto, booster: Booster) -> None:
    """Make the ONNX trees take LightGBM's branch for every float32 input, including missing values.

    LightGBM compares ``float64(x) <= t`` with a float64 threshold; the ONNX trees store float32
    thresholds, and the converter rounds ``t`` to the *nearest* float32, which sends the row whose value
    is that rounded-up float the other way. For a float32 ``x``, ``x <= t`` holds exactly when ``x`` is at
    most the largest float32 not above ``t``, so that is the threshold stored. Missing values follow
    LightGBM's rule per node: the default side for ``NaN`` splits, the side of 0 for ``None`` splits.
    """
    attributes = {a.name: a for a in _tree_node(exported).attribute}
    thresholds = np.array(attributes["nodes_values"].floats, dtype=np.float32)
    missing_left = np.array(attributes["nodes_missing_value_tracks_true"].ints, dtype=np.int64)
    seen = np.zeros(thresholds.size, dtype=bool)
    exact = np.zeros(thresholds.size, dtype=np.float64)
    for position, split in _aligned_splits(attributes, booster):
        exact[position] = float(split["threshold"])
        missing_left[position] = _missing_goes_left(split)
        seen[position] = True
    with np.errstate(over="ignore"):  # thresholds of 1e300 become +inf, which routes the same way
        if not np.array_equal(exact[seen].astype(np.float32), thresholds[seen]):
            raise OnnxExportError("ONNX thresholds do not match the LightGBM trees they were converted from")
        thresholds[seen] = _largest_float32_not_above(exact[seen])
    _replace(attributes["nodes_values"], "floats", thresholds.tolist())
    _replace(attributes["nodes_missing_value_tracks_true"], "ints", missing_left.tolist())


def _largest_float32_not_above(values: np.ndarray) -> np.ndarray:
    nearest = values.astype(np.float32)
    above = nearest.astype(np.float64) > values
    return np.where(above, np.nextafter(nearest, np.float32(-np.inf)), nearest)


def _missing_goes_left(split: dict[str, Any]) -> int:
    kind, default_left = split["missing_type"], bool(split["default_left"])
    if kind == "NaN":
        return int(default_left)
    zero_goes_left = float(split["threshold"]) >= 0.0
    if kind == "None":  # LightGBM replaces NaN by 0 on features that had no missing value in training
        return int(zero_goes_left)
    if zero_goes_left != default_left:  # "Zero": 0 itself must go to the default side, which ONNX cannot say
        raise OnnxExportError("a split treats zero as missing (zero_as_missing=True): not exportable exactly")
    return int(default_left)


def _tree_node(exported: onnx.ModelProto) -> onnx.NodeProto:
    found = [node for node in exported.graph.node if node.op_type == TREE_OP]
    if len(found) != 1:
        raise OnnxExportError(f"expected one {TREE_OP} node in the exported graph, found {len(found)}")
    return found[0]


def _aligned_splits(attributes: dict[str, Any], booster: Booster) -> Iterator[tuple[int, dict[str, Any]]]:
    """Walk every LightGBM tree and its ONNX copy together; yield (ONNX node position, LightGBM split)."""
    tree_ids, node_ids = attributes["nodes_treeids"].ints, attributes["nodes_nodeids"].ints
    position = {
        (tree, node): index for index, (tree, node) in enumerate(zip(tree_ids, node_ids, strict=True))
    }
    true_ids, false_ids = attributes["nodes_truenodeids"].ints, attributes["nodes_falsenodeids"].ints
    features, modes = attributes["nodes_featureids"].ints, attributes["nodes_modes"].strings
    trees = booster.dump_model()["tree_info"]  # best iteration, as the converter and predict() use
    if len(trees) != len(set(tree_ids)):
        raise OnnxExportError(f"LightGBM has {len(trees)} trees but the ONNX graph {len(set(tree_ids))}")
    for tree_index, tree in enumerate(trees):
        stack = [(tree["tree_structure"], 0)]
        while stack:
            split, node = stack.pop()
            if "split_index" not in split:
                continue
            index = position[(tree_index, node)]
            if split["decision_type"] != "<=" or modes[index] != b"BRANCH_LEQ":
                raise OnnxExportError(f"tree {tree_index}: only numerical '<=' splits are supported")
            if features[index] != split["split_feature"]:
                raise OnnxExportError(f"tree {tree_index}: ONNX node {node} tests another feature")
            yield index, split
            stack += [(split["left_child"], true_ids[index]), (split["right_child"], false_ids[index])]


def _replace(attribute: onnx.AttributeProto, field: str, values: list[Any]) -> None:
    container = getattr(attribute, field)
    del container[:]
    container.extend(values)


def _declare_label_batch_dimension(exported: onnx.ModelProto) -> None:
    # The converter declares the label output as shape [1]; ONNX Runtime then warns on every batch.
    for output in exported.graph.output:
        dims = output.type.tensor_type.shape.dim
        if dims and dims[0].dim_value == 1:
            dims[0].dim_param = "N"
