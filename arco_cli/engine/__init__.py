"""Execution engine: planning, run-key reservation, reruns, the local executor, triggers."""
