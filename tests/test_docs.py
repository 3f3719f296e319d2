"""The README quotes benchmark results files, never typed numbers."""

from bench.readme import ROOT, block, current


def test_the_readme_benchmark_block_is_what_the_results_files_say():
    assert current((ROOT / "README.md").read_text()) == block(), "run: python -m bench.readme"
