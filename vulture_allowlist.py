"""Names the dead-code scan (vulture, make lint) cannot see used: called by frameworks or read as data."""

# ruff: noqa
_ = object()

# BentoML calls the service's APIs and hooks; pydantic reads model_config; sklearn passes y/input_features;
# dataclass fields are serialised with asdict (reports, health, JSON); onnxruntime options are set by name.
_.close_request_log  # unused method (bento/service.py:72)
_.score_batch  # unused method (bento/service.py:87)
_.explain  # unused method (bento/service.py: the /explain API; Scorer.explain is its one-call form)
default_rate  # unused variable (src/credit_scoring/cost.py:32)
_.attrs  # unused attribute (src/credit_scoring/data/loader.py:216)
fidelity_table  # unused function (src/credit_scoring/data/summary.py:75)
spearman_gaps  # unused function (src/credit_scoring/data/summary.py:85)
http_status  # unused variable (src/credit_scoring/errors.py:22)
http_status  # unused variable (src/credit_scoring/errors.py:41)
_.intra_op_num_threads  # unused attribute (src/credit_scoring/fastpath/engines.py:52)
_.inter_op_num_threads  # unused attribute (src/credit_scoring/fastpath/engines.py:53)
_.execution_mode  # unused attribute (src/credit_scoring/fastpath/engines.py:54)
_.graph_optimization_level  # unused attribute (src/credit_scoring/fastpath/engines.py:55)
_.dim_param  # unused attribute (src/credit_scoring/fastpath/onnx_export.py:151)
_.elem_type  # unused attribute (src/credit_scoring/fastpath/onnx_calibration.py:54)
y  # unused variable (src/credit_scoring/features.py:143)
input_features  # unused variable (src/credit_scoring/features.py:151)
reference_rows  # unused variable (src/credit_scoring/monitoring/drift.py:51)
null_rate_p_value  # unused variable (src/credit_scoring/monitoring/drift.py:55)
generated_at  # unused variable (src/credit_scoring/monitoring/drift.py:78)
endpoints  # unused variable (src/credit_scoring/monitoring/operations.py:29)
mean_probability  # unused variable (src/credit_scoring/monitoring/operations.py:32)
reference_count  # unused variable (src/credit_scoring/monitoring/sketches.py:35)
_.nan_count  # unused attribute (src/credit_scoring/patches.py:88)
_.inf_count  # unused attribute (src/credit_scoring/patches.py:90)
_.wrappers  # unused attribute (src/credit_scoring/patches.py:148)
model_config  # unused variable (src/credit_scoring/serving/api_models.py:39)
model_config  # unused variable (src/credit_scoring/serving/api_models.py:47)
_.exc_text  # unused attribute (src/credit_scoring/serving/errors.py:91)
_.levelno  # unused attribute (src/credit_scoring/serving/errors.py:92)
_.msg  # unused attribute (src/credit_scoring/serving/errors.py:93)
model_config  # unused variable (src/credit_scoring/settings.py:22)
monitoring_priority  # unused variable (src/credit_scoring/settings.py:154)
model_config  # unused variable (src/credit_scoring/validation.py:104)
_._rule_checked_when_refused  # unused method (src/credit_scoring/validation.py:106)
model_config  # unused variable (src/credit_scoring/validation.py:178)
# Recording: counters and figures serialised with asdict (health, status file); the query API and the
# measurements are called by the monitor's next version and by the benchmark.
stored_batches  # unused variable (src/credit_scoring/recording/ingest.py)
skipped_batches  # unused variable (src/credit_scoring/recording/ingest.py)
torn_bytes  # unused variable (src/credit_scoring/recording/ingest.py)
store_errors  # unused variable (src/credit_scoring/recording/ingest.py)
last_error  # unused variable (src/credit_scoring/recording/ingest.py)
compacted_files  # unused variable (src/credit_scoring/recording/ingest.py)
dropped_days  # unused variable (src/credit_scoring/recording/ingest.py)
released_early  # unused variable (src/credit_scoring/recording/ingest.py): read by health through the status file
updated_at  # unused variable (src/credit_scoring/recording/ingest.py)
client_ref  # unused variable (src/credit_scoring/recording/protocol.py)
lag_bytes  # unused variable (src/credit_scoring/recording/protocol.py)
available  # unused variable (src/credit_scoring/recording/protocol.py)
_.aggregate_operations  # unused method (src/credit_scoring/recording/store.py)
measure_append_us  # unused function (src/credit_scoring_tools/recording_bench.py)
measure_ingest  # unused function (src/credit_scoring_tools/recording_bench.py)
sustained_run  # unused function (src/credit_scoring_tools/recording_bench.py)
empty_records  # unused function (src/credit_scoring/monitoring/dashboard.py): notebooks/drift_study.ipynb
_.listen_per_worker  # BentoML calls the @bentoml.on_deployment hook (bento/service.py)
_.limit_bytes  # a field of the 413 answer's model (serving/api_models.py), read by clients
# The records-based analysis: notebooks/drift_study.ipynb and the tests call it on in-memory records.
analyse  # unused function (src/credit_scoring/monitoring/drift.py)
load_records  # unused function (src/credit_scoring/monitoring/drift.py)
# Model performance (issue 13): a pydantic validator, and the study functions notebooks/performance_study.ipynb calls.
_.json_integer  # pydantic calls the field validator (serving/outcomes_api.py)
train_study_model  # notebooks/performance_study.ipynb
calibration_table  # notebooks/performance_study.ipynb
calibration_deciles  # notebooks/performance_study.ipynb
simulated_year  # notebooks/performance_study.ipynb
tracking_table  # notebooks/performance_study.ipynb
grant_rate  # unused variable (src/credit_scoring/monitoring/challenger.py:67), serialised with asdict
_.should_exit  # uvicorn's Server reads it to stop (deployment/stack.py)
