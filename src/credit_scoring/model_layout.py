"""Where things are in a model: the pipeline's step names and the files a run and a Bento model carry."""

from __future__ import annotations

# The fitted sklearn Pipeline's steps: training names them, scoring and the ONNX export look them up.
FEATURES_STEP = "features"
CLASSIFIER_STEP = "classifier"

# Artifacts of a training run that promotion, serving and monitoring read back (see the README's report).
MODEL_NAME_IN_RUN = "model"
EVALUATION_ARTIFACT = "evaluation/test.parquet"
# The same relative path in the MLflow run and in the Bento model, so readers need not know which they hold.
REFERENCE_PROFILE_ARTIFACT = "reference/reference_profile.bin"
FEATURES_ARTIFACT = "model_card/features.json"

# The ONNX model and its parity report, logged as extra files of the MLflow model.
ONNX_FILE = "model.onnx"
PARITY_FILE = "onnx_parity.json"
# Where mlflow.<flavor>.log_model(extra_files=[...]) puts them inside the logged model's directory.
EXTRA_FILES_DIR = "extra_files"
# The MLflow model directory is copied into the Bento model as logged (MLmodel, model.pkl, requirements):
# provenance travels with the Bento and `mlflow.sklearn.load_model(<dir>)` still works on it for audits.
MLFLOW_MODEL_DIR = "mlflow_model"
