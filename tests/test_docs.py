"""The README quotes benchmark results files, never typed numbers."""

import pytest

from bench.readme import BLOCKS, ROOT, block, current


@pytest.mark.parametrize("name", list(BLOCKS))
def test_the_readme_benchmark_block_is_what_the_results_files_say(name):
    assert current((ROOT / "README.md").read_text(), name) == block(name), "run: python -m bench.readme"
