"""Source and licence of a loaded file, read from the SOURCES.md beside it: the file's own table row
or the document's licence statement, never a table's header or separator row."""

from __future__ import annotations

import pytest

from lpm_kg.provenance import from_text, parse, provenance
from conftest import SHARED_DATA, shared

FOLDERS = sorted(p.parent.name for p in SHARED_DATA.glob("*/SOURCES.md"))


def _header_texts(text: str) -> list[str]:
    """Every cell of every table header row in a SOURCES.md."""
    _, _, tables = parse(text)
    return [c for t in tables for c in t.header if c]


def test_every_shared_folder_has_a_sources_md():
    assert len(FOLDERS) >= 15, FOLDERS


@pytest.mark.parametrize("folder", FOLDERS)
def test_no_value_is_a_table_header_or_separator(folder):
    sources = shared(f"{folder}/SOURCES.md")
    text = sources.read_text()
    headers = _header_texts(text)
    files = [f for f in sources.parent.iterdir() if f.name != "SOURCES.md"]
    assert files
    for f in files:
        source, licence = provenance(f)
        assert source, f  # every SOURCES.md has a title
        for value in (source, licence):
            if value is None:
                continue
            assert "---" not in value and not value.startswith("|") and " | " not in value, (f, value)
            assert "license / cite" not in value.lower(), (f, value)
            assert value not in headers, (f, value)
            assert len(value) <= 300


def test_hgnc_row_gives_its_own_licence_and_repo():
    source, licence = provenance(shared("gene-ids/hgnc_complete_set.txt.gz"))
    assert licence == "HGNC data CC0; Braschi B et al. NAR 47:D786 (2019)"
    assert source == "Gene identifier mapping tables (lyijin/common @ 80d09d1adf0fb34697b446b8698f248ded041f7e)"


def test_a_row_saying_same_takes_the_repo_from_the_row_above():
    source, licence = provenance(shared("gene-ids/Homo_sapiens.GRCh38.101.entrez.tsv.gz"))
    assert licence == "Ensembl: no use restrictions; Howe KL et al. NAR 49:D884 (2021)"
    assert source.endswith("(mpreusse/py2neo_graphio_example @ e77242732783b35b2131ed9afe5144c9b11b543b)")


def test_a_data_licence_line_is_preferred_to_the_repository_licence():
    source, licence = provenance(shared("string/string_v12_human_entrez_ntm700_top3_400.tsv.gz"))
    assert licence == "STRING data license: CC BY 4.0."
    assert source == ("STRING v12.0 human functional network (filtered) "
                      "(emosca-cnr/dmfind @ 3e1c7fce8bf1dbb216dd70abf2e3151a87a2a963)")


def test_licence_from_the_repo_line_outside_any_table():
    # metaDEGth's table has no licence column: the Repo line's licence applies to both files.
    for name in ("siTAZdiffex_HFL1_diffexDT.csv.gz", "koATF3_HCT116_diffexDT.csv.gz"):
        assert provenance(shared(f"metadegth-de-tables/{name}"))[1] == "License MPL-2.0"
    assert provenance(shared("cmap-build02-pharmacogx/CMAPsmall_rna_exprs.csv.gz"))[1] == "License GPL (>= 3)"
    assert provenance(shared("l1000-ljp005-a375/LJP005_A375_24H_level3_n377x978.gct"))[1] == "BSD-3-Clause"


def test_title_already_naming_the_repo_is_not_repeated():
    source, _ = provenance(shared("sigrecon-signatures/sciplex_ranked_signatures_long.parquet"))
    assert source == "Ranked drug / CRISPRi signatures across cell contexts (montilab/sigrecon)"


def test_another_files_row_is_never_used_and_silence_is_empty():
    text = ("# Two files\n| file | license / cite |\n|---|---|\n| a.csv | CC0 |\n| b.csv.gz (12 B) | CC BY 4.0 |\n")
    assert from_text(text, "a.csv") == ("Two files", "CC0")
    assert from_text(text, "b.csv.gz") == ("Two files", "CC BY 4.0")
    assert from_text(text, "c.csv") == ("Two files", None)  # not in the table, no licence line
    assert from_text("", "a.csv") == (None, None)
    # "name.RData + .csv.gz" names the .csv.gz too
    text = "# T\n| file | licence |\n| --- | --- |\n| x.RData + .csv.gz | MIT |\n"
    assert from_text(text, "x.csv.gz") == ("T", "MIT")


def test_the_loaded_hgnc_dataset_records_its_row(graph):
    row = graph.read("MATCH (d:Dataset {name: 'hgnc'}) RETURN d.licence AS licence, d.source AS source")[0]
    assert row["licence"] == "HGNC data CC0; Braschi B et al. NAR 47:D786 (2019)"
    assert row["source"].startswith("Gene identifier mapping tables (lyijin/common @ 80d09d1")
