"""echowall's benchmark suite (``python -m bench``, or ``./dev bench``).

Benchmarks never run in the test suite; see bench/README.md for what is measured and how to
read the numbers.
"""
