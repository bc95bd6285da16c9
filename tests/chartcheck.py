"""The tests' view of what the pinned charts accept: the same facts `mlplatform check` uses
(stacks/config/chart_facts.py over stacks/data/, derived from shared/charts by stacks/facts/charts.py)."""

from __future__ import annotations

from mlplatform.stacks.config.chart_facts import ValuesReport, check_values, custom_resource_errors, known_paths, schema_errors
from mlplatform.stacks.config.chart_facts import chart_defaults as chart_values

__all__ = ["ValuesReport", "chart_values", "check_values", "custom_resource_errors", "known_paths", "schema_errors"]
