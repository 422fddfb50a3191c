"""Nothing in tests/fuzz is a pytest test: the targets run under atheris (see README.rst).

tests/test_fuzz_targets.py imports them and replays the seeds in the normal runs.
"""

collect_ignore_glob = ["fuzz_*.py", "corpus", "seeds", "artifacts"]
