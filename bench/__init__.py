"""Paved's benchmarks: speed and memory at each sandbox scale, measured side by side.

    python -m bench --scale small|demo|enterprise [--repeat N] [--only NAME,...] [--results DIR]

Each measurement runs in a fresh subprocess, so its peak RSS is that of the process that did
the work; short ones are repeated and reported as the median. Results go to
``bench/results/<scale>.json`` and ``.md`` with the machine and library versions. See
:mod:`bench.measures` for what is measured and :mod:`bench.targets` for the targets.
"""
