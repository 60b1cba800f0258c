"""Application data: the real application_train.csv when given, a synthetic look-alike otherwise."""
