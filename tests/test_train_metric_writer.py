"""metrics.jsonl never loses a record: reruns keep the earlier file, a cut last line is
tolerated, a damaged line elsewhere is an error naming it."""

import json

import pytest

from jclip.train import metric_writer


def _write(path, steps, cut=False):
    lines = "".join(json.dumps({"step": s, "loss": float(s)}) + "\n" for s in steps)
    path.write_text(lines + ('{"step": 9, "lo' if cut else ""))


def test_a_rerun_from_step_0_keeps_the_earlier_records_in_a_copy(tmp_path, capsys):
    _write(tmp_path / "metrics.jsonl", range(1, 6))
    writer = metric_writer.MetricWriter(str(tmp_path), resume_step=0, tensorboard=False)
    writer.write(1, {"loss": 7.0})
    assert metric_writer.read_metrics(str(tmp_path)) == [{"step": 1, "loss": 7.0}]
    backup = (tmp_path / "metrics.jsonl.1.bak").read_text().splitlines()
    assert [json.loads(x)["step"] for x in backup] == [1, 2, 3, 4, 5]
    assert "metrics.jsonl.1.bak" in capsys.readouterr().err
    metric_writer.MetricWriter(str(tmp_path), resume_step=0, tensorboard=False)
    assert (tmp_path / "metrics.jsonl.2.bak").exists()  # a second rerun never overwrites


def test_resume_keeps_records_up_to_the_checkpoint_and_copies_the_rest(tmp_path):
    _write(tmp_path / "metrics.jsonl", range(1, 8))
    metric_writer.MetricWriter(str(tmp_path), resume_step=4, tensorboard=False)
    assert [r["step"] for r in metric_writer.read_metrics(str(tmp_path))] == [1, 2, 3, 4]
    assert len((tmp_path / "metrics.jsonl.1.bak").read_text().splitlines()) == 7


def test_resume_with_nothing_to_drop_makes_no_copy(tmp_path):
    _write(tmp_path / "metrics.jsonl", range(1, 5))
    metric_writer.MetricWriter(str(tmp_path), resume_step=4, tensorboard=False)
    assert not list(tmp_path.glob("*.bak"))


def test_a_cut_last_line_does_not_block_a_restart(tmp_path, capsys):
    _write(tmp_path / "metrics.jsonl", range(1, 5), cut=True)
    warnings = []
    assert len(metric_writer.read_metrics(str(tmp_path), warn=warnings.append)) == 4
    assert "line 5 is incomplete" in warnings[0]
    writer = metric_writer.MetricWriter(str(tmp_path), resume_step=4, tensorboard=False)
    writer.write(5, {"loss": 5.0})
    assert [r["step"] for r in metric_writer.read_metrics(str(tmp_path))] == [1, 2, 3, 4, 5]
    assert '{"step": 9, "lo' in (tmp_path / "metrics.jsonl.1.bak").read_text()


def test_a_damaged_line_before_the_last_is_an_error_naming_it(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(ValueError, match="line 2 is not a JSON metrics record"):
        metric_writer.read_metrics(str(tmp_path))
