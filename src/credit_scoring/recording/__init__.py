"""Decision recording: the write-ahead journal, its checkpointed ingest, the production store, the export."""
