"""Hostile input through `lpm-kg load`: each bad file or argument is refused with exit code 2 and
one clear line (file, field, fix), no traceback, and the graph exactly as it was."""

import gzip
import random

import click
import pytest
from click.testing import CliRunner

from conftest import fingerprint, graph_counts, server_env
from lpm_kg.cli import main
from lpm_kg.loading import MAX_NAME_CHARS

GOOD = "perturbation,readout,context,value\nCRISPRi_STAT1,IRF1,K562,-1.5\nCRISPRi_STAT1,STAT1,K562,-3.0\n"


@pytest.fixture
def cli(graph, neo4j_server, tmp_path):
    """``cli(*args)`` runs `lpm-kg` on a graph that already holds a good dataset, and checks that
    the call changed nothing in it."""
    runner = CliRunner()
    env = server_env(neo4j_server, tmp_path / "home")
    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    first = runner.invoke(main, ["load", str(good), "--format", "long", "--dataset", "good"], env=env)
    assert first.exit_code == 0, first.output
    before, before_fp = graph_counts(graph), fingerprint(graph)

    def run(*args):
        result = runner.invoke(main, [str(a) for a in args], env=env)
        assert graph_counts(graph) == before and fingerprint(graph) == before_fp, result.output
        return result

    return run


def _refused(result, *needles):
    """Exit code 2, one error line with its fix, no traceback."""
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out and not isinstance(result.exception, (AssertionError, ValueError, OSError)), out
    for needle in needles:
        assert needle in out, (needle, out)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def _gct(rows, samples=("S1", "S2"), cells=("A375", "A375")):
    """A GCT 1.3 text: ``rows`` of (id, gene symbol, values...)."""
    lines = ["#1.3", f"{len(rows)}\t{len(samples)}\t1\t3", "\t".join(["id", "pr_gene_symbol", *samples]),
             "\t".join(["pert_iname", "na", *["vemurafenib"] * len(samples)]),
             "\t".join(["pert_type", "na", *["trt_cp"] * len(samples)]),
             "\t".join(["cell_id", "na", *cells])]
    lines += ["\t".join(map(str, r)) for r in rows]
    return "\n".join(lines) + "\n"


GOOD_ROWS = [("g1", "STAT1", -1.0, 0.5), ("g2", "IRF1", 2.0, -0.3), ("g3", "DUSP6", -4.0, -3.5)]


def test_a_good_gct_loads(graph, neo4j_server, tmp_path):
    path = _write(tmp_path, "good.gct", _gct(GOOD_ROWS))
    out = CliRunner().invoke(main, ["load", str(path), "--format", "gct", "--dataset", "gct"],
                             env=server_env(neo4j_server, tmp_path / "home"))
    assert out.exit_code == 0 and "n_readouts=3" in out.output, out.output


@pytest.mark.parametrize("case", ["repeated row id", "two rows of one gene, collisions=error", "repeated column id"])
def test_gct_with_repeated_ids_is_refused(cli, tmp_path, case):
    rows, samples, needle = {
        "repeated row id": (GOOD_ROWS + [("g1", "MYC", 1.0, 1.0)], ("S1", "S2"), "row id 'g1' appears twice"),
        "two rows of one gene, collisions=error": (GOOD_ROWS + [("g4", "STAT1", 1.0, 1.0)], ("S1", "S2"),
                                                   "rows 'g1' and 'g4' both measure gene STAT1"),
        "repeated column id": (GOOD_ROWS, ("S1", "S1"), "column id 'S1' appears twice"),
    }[case]
    path = _write(tmp_path, "bad.gct", _gct(rows, samples))
    policy = ["--option", "collisions=error"] if "collisions=error" in case else []
    _refused(cli("load", path, "--format", "gct", "--dataset", "bad", *policy), f"file {path}", needle, "Fix:",
             *(["--option collisions=mean"] if policy else []))


def test_gct_two_rows_of_one_gene_average_by_default_and_say_so(graph, neo4j_server, tmp_path):
    path = _write(tmp_path, "two.gct", _gct(GOOD_ROWS + [("g4", "STAT1", 3.0, 1.5)]))
    out = CliRunner().invoke(main, ["load", str(path), "--format", "gct", "--dataset", "two"],
                             env=server_env(neo4j_server, tmp_path / "home"))
    assert out.exit_code == 0, out.output
    assert "n_readouts=3" in out.output and "collisions: 1 row(s) merged into another under collisions=mean" in out.output
    assert "1 x the same source row twice (duplicate_row)" in out.output  # one gene id written on two rows
    assert "rows g1 and g4: pr_gene_symbol 'STAT1' / 'STAT1'" in out.output, out.output


def test_a_folder_for_a_file_is_refused(cli, tmp_path):
    folder = tmp_path / "folder.gct"
    folder.mkdir()
    _refused(cli("load", folder, "--format", "gct", "--dataset", "bad"), f"file {folder}", "is a folder", "Fix:")


def test_a_cell_line_of_punctuation_only_is_refused_before_any_write(cli, tmp_path):
    path = _write(tmp_path, "bad.csv", "perturbation,readout,context,value\nCRISPRi_STAT1,IRF1,!!!,-1.5\n")
    _refused(cli("load", path, "--format", "long", "--dataset", "bad"), f"file {path}",
             "cell line '!!!' has no letters or digits", "field 'cell_line'", "Fix:")


def test_overlong_symbols_and_names_are_refused_before_any_write(cli, tmp_path):
    long_name = "x" * (MAX_NAME_CHARS + 1)
    path = _write(tmp_path, "bad.csv", f"perturbation,readout,context,value\n{'y' * 20000},IRF1,K562,-1.5\n")
    _refused(cli("load", path, "--format", "long", "--dataset", "bad"), f"file {path}",
             "perturbation symbol", "20,000 characters long", f"{MAX_NAME_CHARS:,}", "field 'perturbation'", "Fix:")
    good = _write(tmp_path, "good2.csv", GOOD)
    _refused(cli("load", good, "--format", "long", "--dataset", long_name), "dataset name",
             f"{MAX_NAME_CHARS + 1:,} characters long")


@pytest.mark.parametrize("fmt", ["long", "gct"])
def test_a_value_beyond_float32_is_refused(cli, tmp_path, fmt):
    if fmt == "long":
        path = _write(tmp_path, "bad.csv", GOOD + "CRISPRi_STAT1,DUSP6,K562,1e39\n")
        needles = ("row 3", "field 'value'")
    else:
        path = _write(tmp_path, "bad.gct", _gct(GOOD_ROWS[:2] + [("g3", "DUSP6", -4.0, "-1e39")]))
        needles = ("row g3 (line 9)", "field 'S2'")
    _refused(cli("load", path, "--format", fmt, "--dataset", "bad"), f"file {path}", "'", "is too large",
             "32-bit", "Fix:", *needles)


def test_a_negative_top_k_is_refused(cli, tmp_path):
    path = _write(tmp_path, "good2.csv", GOOD)
    _refused(cli("load", path, "--format", "long", "--dataset", "other", "--top-k", -5), "--top-k", "-5")


def _truncated_gz(path, text):
    data = gzip.compress(text.encode())
    path.write_bytes(data[: len(data) // 2])
    return path


def test_a_truncated_gzip_file_is_named_as_truncated(cli, tmp_path):
    rng = random.Random(0)
    genes = ["IRF1", "STAT1", "DUSP6", "MYC", "TP53", "EGFR", "KRAS", "BRAF"]
    rows = "".join(f"CRISPRi_STAT1,{g},C{i},{rng.uniform(-5, 5):.6f}\n" for i in range(3000) for g in genes[:2])
    long_gz = _truncated_gz(tmp_path / "cut.csv.gz", "perturbation,readout,context,value\n" + rows)
    _refused(cli("load", long_gz, "--format", "long", "--dataset", "bad"), f"file {long_gz}",
             "truncated or corrupt", "gzip -t", "Fix:")
    big = GOOD_ROWS + [(f"g{i}", g, rng.uniform(-5, 5), rng.uniform(-5, 5)) for i, g in enumerate(genes[3:] * 2000, 9)]
    gct_gz = _truncated_gz(tmp_path / "cut.gct.gz", _gct(big))
    result = cli("load", gct_gz, "--format", "gct", "--dataset", "bad")
    _refused(result, f"file {gct_gz}", "truncated or corrupt", "Fix:")
    assert "Aborted" not in result.output


def test_an_unexpected_error_is_one_line_with_a_log_file(graph, neo4j_server, tmp_path):
    @click.command("explode")
    def explode():
        raise RuntimeError("something inside broke")

    main.add_command(explode)
    try:
        result = CliRunner().invoke(main, ["explode"], env=server_env(neo4j_server, tmp_path / "home"))
    finally:
        main.commands.pop("explode")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "error: unexpected RuntimeError: something inside broke" in result.output
    logs = list((tmp_path / "home" / "logs").glob("error-*.log"))
    assert len(logs) == 1 and str(logs[0]) in result.output
    text = logs[0].read_text()
    assert "Traceback" in text and "something inside broke" in text


def test_names_at_the_limit_fit_the_indexes(graph, neo4j_server, tmp_path):
    # 1000 characters of 4 bytes each: the longest UTF-8 a name may be, in every key that holds it.
    name = "\U0001d6c2" * MAX_NAME_CHARS
    path = _write(tmp_path, "ok.csv", f"perturbation,readout,context,value\n{name},IRF1,{'K' * MAX_NAME_CHARS},-1.5\n")
    out = CliRunner().invoke(main, ["load", str(path), "--format", "long", "--dataset", "d" * MAX_NAME_CHARS],
                             env=server_env(neo4j_server, tmp_path / "home"))
    assert out.exit_code == 0, out.output
    assert graph.read("MATCH (e:Experiment {perturbation: $p}) RETURN count(e) AS n", {"p": name})[0]["n"] == 1


def test_a_stray_byte_in_a_gct_header_is_refused(cli, tmp_path):
    path = tmp_path / "bad.gct"
    path.write_bytes(_gct(GOOD_ROWS).encode().replace(b"pr_gene_symbol", b"pr_gene_\xffsymbol"))
    _refused(cli("load", path, "--format", "gct", "--dataset", "bad"), f"file {path}", "is not UTF-8 text",
             "Fix:")


def test_a_table_of_which_no_measurement_is_left_is_refused_before_any_write(cli, tmp_path):
    path = _write(tmp_path, "bad.csv", "perturbation,readout,context,value\nCRISPRi_STAT1,NOTAGENE1,K562,-1.5\n"
                  "CRISPRi_STAT1,NOTAGENE2,K562,-3.0\n")
    _refused(cli("load", path, "--format", "long", "--dataset", "bad", "--unmapped", "skip"), f"file {path}",
             "no measurement is left to load", "2 gene ids did not resolve", "Fix:")
