"""Job requests the tests post: the README's own walkthrough job, and small ones that train in seconds."""

from __future__ import annotations

# Exactly the walkthrough's first job in README.md (tests/system/test_end_to_end.py checks it is there).
# It leaves batch size, learning rate and the rest to the server's defaults (issue 13: good defaults).
README_JOB = {"dataset": "mnist", "model": "cnn", "optimizer": "adam", "epochs": 3, "seed": 0}
DEFAULTS_JOB = README_JOB
# Seconds to train on the small data sets.
QUICK_JOB = {"dataset": "mnist", "model": "linear", "optimizer": "adam", "epochs": 2, "batch_size": 100, "seed": 0}
