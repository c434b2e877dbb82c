"""The training pipeline's file handling: a checkpoint path is built only from a valid run id."""

import pytest

from lpm_kg.graph.runs import WritebackError, check_run_id
from lpm_kg.training import checkpoint_path


@pytest.mark.parametrize("run_id", ["../../etc/x", "..", ".", "/etc/passwd", "a/b", "a\\b", "lpm-1\n", "",
                                    "-rf", "a" * 201, None, 7])
def test_a_bad_run_id_never_becomes_a_path(tmp_path, run_id):
    with pytest.raises(WritebackError, match=r"refusing to build a checkpoint path .* is not valid"):
        checkpoint_path(tmp_path / "runs", run_id)
    with pytest.raises(WritebackError, match="is not valid: use letters, digits"):
        check_run_id(run_id)


@pytest.mark.parametrize("run_id", ["lpm-0123456789ab", "eval-abc", "run_1.v2", "a" * 200])
def test_a_valid_run_id_names_a_file_in_the_runs_folder(tmp_path, run_id):
    path = checkpoint_path(tmp_path / "runs", run_id)
    assert path == tmp_path / "runs" / f"{run_id}.pt" and path.parent == tmp_path / "runs"
    assert check_run_id(run_id) == run_id
