"""Reporting: everything that reads result records and nothing that makes them.

``results`` (the RunRecord schema and store), ``delta_m`` (the multi-task gain), ``leaderboard`` (``mtbench
table``), ``page`` (``results/LEADERBOARD.md``), ``plots`` (Pareto PNGs, learning curves), ``report`` (a run's
summary) and ``regression`` (``mtbench check``). The engine, sweeps and scripts import this package; it imports neither
the engine nor model code, so the page is a function of the records under ``results/`` alone.
"""
