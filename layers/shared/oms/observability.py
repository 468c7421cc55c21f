"""Metrics as CloudWatch EMF lines (Powertools), each with its own dimensions.

``single_metric`` is used rather than one ``Metrics`` object per handler because one batch mixes
platforms and outcomes, and dimensions must not leak from one record to the next.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit, single_metric


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Emit one count metric (namespace from ``POWERTOOLS_METRICS_NAMESPACE``)."""
    with single_metric(name=name, unit=MetricUnit.Count, value=value) as metric:
        for key, dimension in dimensions.items():
            metric.add_dimension(name=key, value=dimension)
