"""Analysis: tools that run saved models to look at their predictions (``show``: ``mtbench show``).
Unlike ``mtbench.reporting`` this package may import the engine and the model code."""
