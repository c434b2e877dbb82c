"""Loader options, declared once per loader as a pydantic model: validated before anything is
written, listed by `lpm-kg formats`, and read typed by the readers."""

from __future__ import annotations

import gzip
import json
from typing import get_args

import anndata
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import graph_counts, server_env, shared
from loaders.gct import GCTX_CHUNK, read_gctx
from loaders.options import Collisions
from lpm_kg import collisions
from lpm_kg.cli import main
from lpm_kg.errors import ConfigError
from lpm_kg.loading import LoadContext
from lpm_kg.registry import LoaderOptions, default_text, get_loader, loaders, option_type

H5AD = "papalexi2021-sceptre/papalexi2021_thp1_lowmoi_299genes.h5ad"
STRING = "string/string_v12_human_entrez_ntm700_top3_400.tsv.gz"
DOROTHEA = "dorothea/dorothea_hs_ABC.csv"


# --------------------------------------------------------------------------- the declarations

def test_every_loader_declares_its_options_as_a_model():
    specs = loaders()
    assert len(specs) >= 14
    for spec in specs:
        model = spec.options_model
        assert issubclass(model, LoaderOptions), spec.name
        assert model.model_config.get("extra") == "forbid", spec.name
        assert all(info.description for info in model.model_fields.values()), spec.name
        assert list(spec.options) == list(model.model_fields), spec.name  # what lists options reads the model
        model()  # every default is valid
    assert get_loader("hgnc").options == {} and get_loader("trrust").options == {}


def test_option_names_types_and_defaults_are_those_the_readers_had():
    """The defaults the readers wrote in their ``ctx.option(name, default)`` calls before the models."""
    def defaults(fmt):
        return {name: info.default for name, info in get_loader(fmt).options_model.model_fields.items()}

    assert defaults("long") == {"perturbation_col": "perturbation", "readout_col": "readout", "context_col": "context",
                                "value_col": "value", "value_kind": "change", "collisions": "mean",
                                "duplicates": None, "readout_modality": "Transcriptome", "method": None,
                                "cell_line": None}
    assert defaults("ranked-signatures") == {"perturbation_type": "chemical", "scoring": "signed", "dose": None,
                                             "collisions": "first"}
    gct = {"level": None, "gene_field": None, "cell_line": None, "plate_field": None, "genes": "all",
           "where": None, "collisions": "mean"}
    assert defaults("gct") == gct
    assert defaults("gctx") == {**gct, "sig_info": None, "chunk": GCTX_CHUNK}
    assert defaults("gct-csv") == {**gct, "row_meta": None, "col_meta": None}
    assert defaults("h5ad") == {"perturbation_key": None, "method": None, "control": None, "cell_line": None,
                                "mode": None, "normalize": "none", "pseudocount": 0.01, "gene_key": None,
                                "min_cells": 1, "collisions": "mean"}
    assert defaults("string") == {"min_score": 0.0, "score_col": "combined_score"}
    assert defaults("dorothea") == {"confidence": "ABCDE"}
    assert defaults("corum") == {"organism": "Human"}
    assert defaults("gmt") == {"collection": None}
    assert defaults("repurposing-hub") == {"samples": None}
    assert defaults("lincs-compounds") == {"target_col": "target", "moa_col": "MOA"}
    assert get_args(Collisions) == collisions.POLICIES
    chunk = get_loader("gctx").options_model.model_fields["chunk"]
    assert option_type(chunk) == "integer >= 1"
    assert option_type(get_loader("gct").options_model.model_fields["level"]) == "3|5"


# --------------------------------------------------------------------------- lpm-kg formats

def test_formats_prints_each_option_with_its_default_and_type_from_the_model(monkeypatch):
    out = CliRunner().invoke(main, ["formats"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    for spec in loaders():
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{spec.name} "))
        block = lines[at + 1:at + 1 + len(spec.options)]
        for line, (name, info) in zip(block, spec.options_model.model_fields.items()):
            assert line.strip().startswith(f"--option {name}=...  {info.description}"), line
            assert line.endswith(f"[{option_type(info)}]"), line
            if info.default is not None:
                assert f"(default {default_text(info.default)}) [" in line, line
            else:
                assert "(default" not in line.split(info.description)[1], line
    assert any(line.strip().startswith("--option chunk=...") and "(default 10000) [integer >= 1]" in line
               for line in lines)
    # The model is the one source: change a default there and formats says so.
    monkeypatch.setattr(get_loader("gctx").options_model.model_fields["chunk"], "default", 123)
    again = CliRunner().invoke(main, ["formats"]).output
    assert "(default 123) [integer >= 1]" in again and "(default 10000) [integer >= 1]" not in again


# --------------------------------------------------------------------------- refused options

def test_an_unknown_option_is_refused_naming_it_the_format_and_the_known_ones(graph, load_file):
    before = graph_counts(graph)
    with pytest.raises(ConfigError) as err:
        load_file(DOROTHEA, "dorothea", "dorothea", confidnce="A")
    assert str(err.value) == ("format 'dorothea' has no option 'confidnce'; its options are: confidence "
                              "(`lpm-kg formats` describes them)")
    with pytest.raises(ConfigError, match="format 'trrust' has no option 'confidence'; it takes none"):
        load_file("trrust/trrust_rawdata.human.tsv", "trrust", "trrust", confidence="A")
    assert graph_counts(graph) == before and not graph.read("MATCH (d:Dataset {name: 'dorothea'}) RETURN d")


@pytest.mark.parametrize("fmt, path, options, message", [
    ("h5ad", H5AD, {"min_cells": "abc"}, "format 'h5ad': option min_cells='abc' is not valid: expected integer"),
    ("h5ad", H5AD, {"pseudocount": "x"}, "format 'h5ad': option pseudocount='x' is not valid: expected number"),
    ("h5ad", H5AD, {"normalize": "median"},
     "format 'h5ad': option normalize='median' is not valid: expected none|total"),
    ("long", "papalexi2021-sceptre/papalexi2021_pseudobulk_by_target.csv.gz", {"collisions": "max"},
     "format 'long': option collisions='max' is not valid: expected error|first|mean"),
    ("dorothea", DOROTHEA, {"confidence": "AZ"},
     "format 'dorothea': option confidence='AZ' is not valid: expected letters of ABCDE, e.g. ABC"),
    ("string", STRING, {"min_score": "high"}, "format 'string': option min_score='high' is not valid: expected number"),
])
def test_a_bad_value_is_refused_naming_the_option_the_value_and_what_it_takes(graph, load_file, fmt, path, options,
                                                                              message):
    before = graph_counts(graph)
    with pytest.raises(ConfigError) as err:
        load_file(path, fmt, "bad", **options)
    assert str(err.value) == message
    assert graph_counts(graph) == before


def test_the_cli_prints_the_refusal_as_one_line(neo4j_server, tmp_path):
    path = shared(DOROTHEA)
    out = CliRunner().invoke(main, ["load", str(path), "--format", "gctx", "--dataset", "x", "--option",
                                    "chunk=0"], env=server_env(neo4j_server, tmp_path / "home"))
    assert out.exit_code == 2
    assert "error: format 'gctx': option chunk='0' is not valid: expected integer >= 1" in out.output
    assert "Traceback" not in out.output


def test_a_reader_called_directly_validates_its_options_too(tmp_path):
    ctx = LoadContext("x", "no.gctx", {"chunk": "many"})
    with pytest.raises(ConfigError, match="format 'gctx': option chunk='many' is not valid: expected integer >= 1"):
        read_gctx(tmp_path / "no.gctx", ctx)  # refused before the file is opened
    assert ctx.parsed is None


# --------------------------------------------------------------------------- typed values at work

def test_an_integer_option_changes_the_load(graph, load_file):
    """min_cells drops the knockout groups with fewer cells (counted here from the file itself)."""
    cells = anndata.read_h5ad(shared(H5AD)).obs["target"].astype(str).value_counts()
    targets = cells.drop("non-targeting")
    common = {"method": "CRISPR-KO", "cell_line": "THP-1", "unmapped": "skip"}
    assert load_file(H5AD, "h5ad", "all", **common).counts["n_experiments"] == len(targets) == 25
    few = load_file(H5AD, "h5ad", "few", min_cells=300, **common)
    kept = {f"CRISPR-KO_{t}" for t in targets[targets >= 300].index}
    assert few.counts["n_experiments"] == len(kept) < len(targets)
    got = graph.read("MATCH (e:Experiment {dataset: 'few'}) RETURN collect(e.perturbation) AS p")[0]["p"]
    assert set(got) == kept


def test_a_number_option_changes_the_load_and_the_record_keeps_the_text(graph, load_file, tmp_path):
    path = tmp_path / "string_head.tsv.gz"
    with gzip.open(shared(STRING), "rt") as src, gzip.open(path, "wt") as dst:
        dst.writelines(line for _, line in zip(range(3001), src))
    scores = pd.read_csv(path, sep="\t")["combined_score"]
    assert 0 < (scores >= 950).sum() < len(scores)
    report = load_file(path, "string", "strong", min_score="950")
    got = graph.read("MATCH ()-[r:INTERACTS_WITH {dataset: 'strong'}]->() RETURN min(r.score) AS lo, count(r) AS n")
    assert got[0]["lo"] >= 950 and got[0]["n"] == report.counts["n_edges"]
    everything = load_file(path, "string", "all")
    assert report.counts["n_edges"] < everything.counts["n_edges"]
    # The Dataset records the options as given, so a load is "unchanged" exactly when it was before.
    recorded = graph.read("MATCH (d:Dataset {name: 'strong'}) RETURN d.options AS o")[0]["o"]
    assert recorded == json.dumps({"min_score": "950", "unmapped": "auto", "top_k": None}, sort_keys=True)
    assert load_file(path, "string", "strong", min_score="950").skipped
    assert not load_file(path, "string", "strong", min_score="950.0").skipped  # other text: another load
