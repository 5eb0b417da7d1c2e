"""The jclip-eval command: models x datasets, output templates, skip_existing, summarize, errors."""

import json
import os
import socket
import subprocess
import sys

import pytest

from jclip.evals import cli
from tests.helpers.files import photo_crops, write
from tests.helpers.models import save_workdir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_models_times_datasets_write_one_json_each_and_summarize(tmp_path, capsys):
    workdir = save_workdir(tmp_path / "run")
    out = str(tmp_path / "res" / "{model}__{dataset}__{task}.json")
    results = cli.run(cli.build_parser().parse_args([
        "--model", workdir, "--dataset", "jclip_shapes/attributes", "jclip_shapes/counting",
        "--task", "auto", "--output", out, "--batch_size", "32", "--quiet"]))
    assert [r["task"] for r in results] == ["zeroshot_classification"] * 2
    files = sorted(os.listdir(tmp_path / "res"))
    assert files == ["run__jclip_shapes_attributes__zeroshot_classification.json",
                     "run__jclip_shapes_counting__zeroshot_classification.json"]
    saved = json.loads((tmp_path / "res" / files[0]).read_text())
    assert saved["num_examples"] == 2000 and saved["model"] == "run"
    assert "| model | dataset | task |" in capsys.readouterr().out

    # --skip_existing: nothing left to do, no model is loaded.
    assert cli.run(cli.build_parser().parse_args([
        "--model", workdir, "--dataset", "jclip_shapes/attributes", "--output", out,
        "--skip_existing", "--quiet"])) == []

    table = tmp_path / "table.csv"
    assert cli.main(["summarize", str(tmp_path / "res" / "*.json"), "--output", str(table)]) == 0
    lines = table.read_text().splitlines()
    assert lines[0].startswith("model,dataset,task,split,num_examples,acc1,acc5")
    assert len(lines) == 3


@pytest.mark.parametrize("argv, error, match", [
    (["--model", "missing/dir/model", "--dataset", "cifar10"], FileNotFoundError,
     "does not exist"),
    (["--model", "weights.safetensors", "--dataset", "cifar10"], FileNotFoundError,
     "does not exist"),
    (["--model", "RUN", "--dataset", "cifar_10"], ValueError, "unknown dataset 'cifar_10'"),
    (["--model", "RUN", "--dataset", "jclip_shapes/attributes", "--task", "linear_probe",
      "--split", "train"], ValueError, "train_split and split are both 'train'"),
])
def test_bad_arguments_are_named(tmp_path, argv, error, match):
    workdir = save_workdir(tmp_path / "run")
    argv = [workdir if a == "RUN" else a for a in argv]
    args = cli.build_parser().parse_args(argv + ["--output", str(tmp_path / "{task}.json"),
                                                 "--quiet"])
    with pytest.raises(error, match=match):
        cli.run(args)


def test_main_reports_bad_input_in_one_line_and_lets_bugs_raise(tmp_path, capsys, monkeypatch):
    workdir = save_workdir(tmp_path / "run")
    common = ["--output", str(tmp_path / "{task}.json"), "--quiet"]
    assert cli.main(["--model", "missing/dir/model", "--dataset", "cifar10", *common]) == 2
    assert "jclip-eval: error: model 'missing/dir/model' does not exist" in capsys.readouterr().err
    assert cli.main(["--model", workdir, "--dataset", "cifar_10", *common]) == 2
    assert "unknown dataset 'cifar_10'" in capsys.readouterr().err

    def bug(error):
        def run_task(ctx, task):
            raise error
        return run_task

    # A bug inside the run keeps its traceback, whatever its type: a KeyError of jclip's own
    # code, or a ValueError raised inside numpy (a shape jclip did not check).
    monkeypatch.setattr(cli.runner, "run_task", bug(KeyError("source")))
    with pytest.raises(KeyError, match="source"):
        cli.main(["--model", workdir, "--dataset", "jclip_shapes/attributes", *common])

    def numpy_error(ctx, task):
        import numpy as np

        return np.zeros(3).reshape(2)

    monkeypatch.setattr(cli.runner, "run_task", numpy_error)
    with pytest.raises(ValueError, match="reshape"):
        cli.main(["--model", workdir, "--dataset", "jclip_shapes/attributes", *common])


def test_summarize_refuses_a_file_that_is_not_a_result(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not an evaluation result"):
        cli.main(["summarize", str(bad)])


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(devices):
    env = dict(os.environ)
    env.update(XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    return env


@pytest.mark.slow
def test_two_processes_give_the_json_of_one(tmp_path):
    """2 processes x 2 devices over gloo: each encodes its part of every split, the features are
    gathered once, and the result files equal those of one process."""
    workdir = save_workdir(tmp_path / "run")
    common = ["-m", "jclip.evals", "--model", workdir, "--dataset", "jclip_shapes/counting",
              "--task", "zeroshot_classification", "--batch_size", "16", "--quiet"]
    port = _free_port()
    multi = [subprocess.Popen(
        [sys.executable, *common, "--output", str(tmp_path / "multi" / "{task}.json"),
         f"--coordinator=127.0.0.1:{port}", "--num_processes=2", f"--process_id={i}"],
        cwd=ROOT, env=_env(2), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)]
    single = subprocess.run([sys.executable, *common, "--output",
                             str(tmp_path / "single" / "{task}.json")],
                            cwd=ROOT, env=_env(4), capture_output=True, text=True, timeout=300)
    outs = [p.communicate(timeout=300)[0] for p in multi]
    assert single.returncode == 0, single.stdout + single.stderr
    for p, out in zip(multi, outs):
        assert p.returncode == 0, out
    one = json.loads((tmp_path / "single" / "zeroshot_classification.json").read_text())
    two = json.loads((tmp_path / "multi" / "zeroshot_classification.json").read_text())
    assert two["num_examples"] == one["num_examples"] == 2000
    assert two["metrics"] == one["metrics"]


def test_two_models_of_the_same_name_keep_both_results(tmp_path, capsys):
    a = save_workdir(tmp_path / "a" / "ckpt")
    b = save_workdir(tmp_path / "b" / "ckpt")
    assert cli.model_names([a, b]) == {a: "a_ckpt", b: "b_ckpt"}
    out = str(tmp_path / "res" / "{model}_{task}.json")
    results = cli.run(cli.build_parser().parse_args([
        "--model", a, b, "--dataset", "jclip_shapes/attributes", "--output", out,
        "--batch_size", "64", "--quiet"]))
    assert [r["model"] for r in results] == ["a_ckpt", "b_ckpt"]
    for name, source in (("a_ckpt", a), ("b_ckpt", b)):
        saved = json.loads((tmp_path / "res" / f"{name}_zeroshot_classification.json")
                           .read_text())
        assert saved["model"] == name and saved["model_source"] == os.path.abspath(source)


def test_an_output_template_that_collides_is_refused_before_any_work(tmp_path):
    a, b = save_workdir(tmp_path / "a"), save_workdir(tmp_path / "b")
    args = cli.build_parser().parse_args([
        "--model", a, b, "--dataset", "jclip_shapes/attributes", "--output",
        str(tmp_path / "{task}.json"), "--quiet"])
    with pytest.raises(ValueError, match=r"same file .*zeroshot_classification.json.*add "
                                         r"\{model\} / \{dataset\} to it"):
        cli.plan(args)
    with pytest.raises(ValueError, match="lists .* more than once"):
        cli.plan(cli.build_parser().parse_args([
            "--model", a, a, "--dataset", "jclip_shapes/attributes", "--quiet"]))
    assert not list(tmp_path.glob("*.json"))


def test_skip_existing_reruns_a_result_cut_mid_write(tmp_path):
    workdir = save_workdir(tmp_path / "run")
    out = tmp_path / "res.json"
    argv = ["--model", workdir, "--dataset", "jclip_shapes/attributes", "--output", str(out),
            "--skip_existing", "--quiet"]
    out.write_text('{"dataset": "jclip_shapes/attributes", "metri')  # a run killed mid-write
    assert not cli.is_result_file(str(out))
    [result] = cli.run(cli.build_parser().parse_args(argv))
    assert cli.is_result_file(str(out)) and json.loads(out.read_text())["metrics"] == result[
        "metrics"]
    assert cli.run(cli.build_parser().parse_args(argv)) == []  # now complete: skipped


def test_a_train_split_that_reads_the_test_images_is_refused(tmp_path, capsys):
    # A folder without split subfolders serves any split from the same images: a probe
    # "trained" there is fitted on the test images.
    for i, image in enumerate(photo_crops()[:4]):
        write(str(tmp_path / "data" / ("cat" if i % 2 else "dog") / f"{i}.png"), image)
    workdir = save_workdir(tmp_path / "run")
    argv = ["--model", workdir, "--dataset", f"folder:{tmp_path / 'data'}", "--task",
            "linear_probe", "--train_split", "train", "--output", str(tmp_path / "r.json"),
            "--quiet"]
    assert cli.main(argv) == 2
    assert "read the same files (4 shared" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
