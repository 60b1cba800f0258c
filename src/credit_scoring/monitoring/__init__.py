"""Production monitoring: request records, their store, background logging, whylogs profiles, drift."""
