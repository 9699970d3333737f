"""The robustness suite: malformed input, interruption and concurrency.  It counts what it
tried and prints the counts at the end of the run."""

from collections import Counter

import pytest

COUNTS: Counter = Counter()


@pytest.fixture
def tally():
    """``tally(key)`` counts one case of ``key`` (e.g. ``"inputs: vcf"`` or ``"kills survived: parse"``)."""
    return lambda key, n=1: COUNTS.update({key: n})


def pytest_terminal_summary(terminalreporter):
    if COUNTS:
        terminalreporter.section("robustness")
        for key in sorted(COUNTS):
            terminalreporter.write_line(f"{key}: {COUNTS[key]}")
