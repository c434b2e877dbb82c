"""The CLI's one dialect (lpm_kg/commands/options.py): lists repeat or take commas, and an old
spelling still works for one release, with a note naming the new one, hidden from --help."""

from click.testing import CliRunner

from lpm_kg.cli import main
from lpm_kg.commands.options import names


def test_a_list_option_repeats_or_takes_commas():
    assert names(("A,B", "C"), ("D",)) == ["A", "B", "C", "D"]
    assert names((" A , ,B ",)) == ["A", "B"]
    assert names((), None) is None


def test_an_old_spelling_works_with_a_note_and_the_new_one_without():
    runner = CliRunner()
    old = runner.invoke(main, ["network", "--methods", "nosuch"])
    assert old.exit_code == 2 and "unknown method(s) nosuch" in old.output
    assert "note: --methods is deprecated and will be removed in the next release; use --method" in old.output
    new = runner.invoke(main, ["network", "--method", "random,nosuch"])
    assert new.exit_code == 2 and "unknown method(s) nosuch" in new.output and "deprecated" not in new.output


def test_help_shows_only_the_new_spellings():
    runner = CliRunner()
    for command, new, old in (["network", "--method", "--methods"], ["eval", "--dataset", "--datasets"],
                              ["eval", "--model", "--models"], ["moa", "--no-write", "--no-record"],
                              ["load", "--top", "--top-k"]):
        text = runner.invoke(main, [command, "--help"]).output
        assert new in text and old not in text, (command, old)
    text = runner.invoke(main, ["plot", "neighbourhood", "--help"]).output
    assert "--k" in text and " -k" not in text


def test_a_renamed_count_keeps_its_rule():
    out = CliRunner().invoke(main, ["load", "x.csv", "--format", "long", "--dataset", "d", "--top-k", "-5"])
    assert out.exit_code == 2 and "--top-k" in out.output and "-5" in out.output
