"""Build hook for the one compiled part: the Hopcroft–Karp matcher of the boundary metric.

Optional: where no C compiler is available the install still succeeds and the boundary metric falls
back to SciPy's maximum_flow (same counts, ~10× slower matching). All other metadata is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "mtbench.metrics._hopcroft_karp",
            ["mtbench/metrics/_hopcroft_karp.c"],
            extra_compile_args=["-O2"],
            optional=True,
        )
    ]
)
