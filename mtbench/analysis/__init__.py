"""Analyses of trained models (``mtbench affinity``: similarity of task-specific features)."""
