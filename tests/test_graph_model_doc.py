"""Every Cypher example in docs/graph-model.md runs and returns rows on the real L1000 set."""

import json
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "graph-model.md"
BLOCKS = re.findall(r"```cypher\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_the_doc_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("block", BLOCKS, ids=[f"example{i + 1}" for i in range(len(BLOCKS))])
def test_example_runs(graph, load_file, block):
    load_file("cmapR-l1000/ds_matrix.csv.gz", "gct-csv", "L1000")
    params = json.loads(re.search(r"^// params: (.*)$", block, flags=re.MULTILINE).group(1))
    rows = graph.read(block, params)
    assert rows, "example returned nothing"
    assert all(v is not None for v in rows[0].values())
