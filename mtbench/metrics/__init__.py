from mtbench.metrics.base import Metric, MetricSpec  # noqa: F401
