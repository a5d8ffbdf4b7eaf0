"""``u2live bench``: model-only and end-to-end speed per backend, precision, size and batch, with the authors'
reference path measured in the same run.

- :mod:`.measure`: clocks (perf_counter on CPU, CUDA events on GPU) and peak memory probes;
- :mod:`.model`: configurations, the model-only runs and the reference;
- :mod:`.pipeline`: the real pipeline on a clip, offline and live;
- :mod:`.clip`: the built-in synthetic clip; :mod:`.run`: one whole run; :mod:`.table`: terminal table and JSON.
"""
from .run import BenchPlan, run
from .table import format_table, write_json

__all__ = ["BenchPlan", "format_table", "run", "write_json"]
