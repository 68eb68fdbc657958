"""Analyses that run saved models: ``show`` (``mtbench show``: prediction grids) and ``affinity`` (``mtbench
affinity``: similarity of task-specific features per scale). Unlike ``mtbench.reporting`` this package may import
the engine and the model code."""
