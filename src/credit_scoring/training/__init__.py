"""Training: the model pipeline, the business cost and threshold, evaluation and MLflow tracking."""
