"""The README and the model card quote results files, never typed numbers."""

import pytest

from bench.readme import BLOCKS, ROOT, block, current


@pytest.mark.parametrize("doc,name", list(BLOCKS), ids=[f"{d.name}:{n}" for d, n in BLOCKS])
def test_each_figure_block_is_what_the_results_files_say(doc, name):
    assert current(doc.read_text(), name) == block(doc, name), "run: python -m bench.readme"


def test_no_figure_is_typed_outside_the_generated_blocks():
    """A UAR or accuracy figure in prose would go stale; they live in generated blocks."""
    import re

    for doc in dict.fromkeys(d for d, _ in BLOCKS):
        text = doc.read_text()
        for _, name in [k for k in BLOCKS if k[0] == doc]:
            text = text.replace(current(text, name) or "", "")
        typed = re.findall(r"(?:UAR|accuracy)[^.\n]{0,40}?\b0\.\d{3}\b|\b\d{2}\.\d% accuracy", text)
        assert typed == [], f"{doc.relative_to(ROOT)}: {typed}"
