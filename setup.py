"""Build of tapwatch's one C extension; everything else is in pyproject.toml.

`tapwatch.sources._fastpage` is the normaliser's per-value loop (string coding) in C. The
pure-Python path in tapwatch.sources.normalise stays the reference and runs wherever the
module does not import or TAPWATCH_NATIVE=0 is set; the build is not optional, so a
broken build fails `pip install` (and CI) loudly instead of silently running slower.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "tapwatch.sources._fastpage",
            ["src/tapwatch/sources/_fastpage.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
        )
    ]
)
