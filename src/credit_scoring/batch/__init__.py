"""Batch scoring of application files with the @production model, locally or on Spark."""
