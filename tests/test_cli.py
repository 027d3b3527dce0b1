import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import run_cli as _cli
from perfpredict.cli import app
from perfpredict.features import FeatureTable, save_features, zoo_features

runner = CliRunner()


def _ok(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", [[], ["zoo", "generate"], ["features"], ["fit"], ["evaluate"],
                                     ["predict"], ["report"], ["demo"]])
def test_help(command):
    assert "Usage" in _ok(*command, "--help")


def test_pipeline_commands(tiny_zoo, tmp_path):
    feats, bundle, report = tmp_path / "f.parquet", tmp_path / "pred", tmp_path / "report"
    assert "27 checkpoints" in _ok("features", tiny_zoo, "-o", feats)
    assert "predictor bundle" in _ok("fit", feats, "-o", bundle, "--models", "xgboost,linear,logit_linear",
                                     "--link", "logit", "--fits", "2", "--refit", "--threads", "1")
    manifest = json.loads((bundle / "manifest.json").read_text())
    info, params = manifest["info"], manifest["models"]["xgboost"]["params"]
    assert info["link"] == params["link"] == "logit" and params["n_jobs"] == 1
    assert info["n_fits"] == params["n_fits"] == 2 and info["refit"] and (bundle / "xgboost.1.ubj").exists()
    assert len(info["training_runs_sha256"]) == 64 and Path(info["features"][0]["file"]) == feats
    assert set(info["intervals"]["halfwidth"]) == {"xgboost", "linear", "logit_linear"}
    _ok("features", tiny_zoo, "-o", tmp_path / "statnn.parquet", "--schema", "statnn")
    out = _ok("evaluate", feats, "--split", "family", "-o", tmp_path / "m.json", "--baselines",
              "--compare", tmp_path / "statnn.parquet")
    assert "family split" in out
    rows = json.loads((tmp_path / "m.json").read_text())
    overall = [r for r in rows if r["subset"] == "all"]
    features = ("transfer", "statnn", "global7", "spectral", "hyperparameters")  # the default schema first
    assert len(overall) == 3 * (2 * len(features) + 1) and {r["features"] for r in overall} == {*features, "none"}
    assert {"family=mlp", "dataset=digits"} <= {r["subset"] for r in rows}
    ckpt = next((tiny_zoo / "runs").glob("*/epoch_002.safetensors"))
    out = _ok("predict", ckpt, "--predictor", bundle, "--json")
    payload = json.loads(out)
    pred, (lo, hi) = payload["predictions"][0]["predicted_accuracy"], payload["predictions"][0]["interval"]
    assert 0 <= lo <= pred <= hi <= 1 and payload["coverage"] == 0.9
    assert "90% interval" in _ok("predict", ckpt, "--predictor", bundle)
    wrong = _cli("predict", ckpt, "--predictor", bundle, "--dataset", "cifar10")
    assert wrong.returncode == 1 and "digits only" in wrong.stderr
    assert "index.html" in _ok("report", feats, "-o", report)
    assert {p.name for p in report.iterdir()} >= {"index.html", "importance.csv", "metrics.csv", "figures"}
    assert list((report / "figures").glob("*.png"))


def test_zoo_generate_and_resume(tmp_path):
    args = ["zoo", "generate", tmp_path / "z", "--families", "mlp", "--runs", "2", "--epochs", "1",
            "--max-train-samples", "200", "--workers", "0"]
    assert "4 checkpoints of 2 runs" in _ok(*args)
    before = pd.read_parquet(tmp_path / "z" / "index.parquet")
    assert "4 checkpoints of 2 runs" in _ok(*args)
    pd.testing.assert_frame_equal(before, pd.read_parquet(tmp_path / "z" / "index.parquet"))


def test_fit_and_evaluate_combine_tables_of_several_zoos(tiny_zoo, tmp_path):
    table = zoo_features(tiny_zoo)
    mlp = table.frame["family"] == "mlp"
    parts = [tmp_path / "mlp.parquet", tmp_path / "others.parquet"]
    for rows, path in zip((mlp, ~mlp), parts):
        save_features(FeatureTable(table.frame[rows].reset_index(drop=True), table.schema, table.schema_version,
                                   table.feature_names), path)
    _ok("fit", *parts, "-o", tmp_path / "bundle", "--models", "linear", "--no-tune", "--calibration-folds", "3")
    info = json.loads((tmp_path / "bundle" / "manifest.json").read_text())["info"]
    assert info["tuned"] is False and info["families"] == ["cnn", "mlp", "vit"]
    assert info["intervals"]["calibration_folds"] == 3 and info["intervals"]["method"].startswith("cross-conformal")
    assert [f["file"] for f in info["features"]] == list(map(str, parts))
    assert info["n_train_checkpoints"] + 3 * len(info["test_runs"]) == 27
    out = _ok("evaluate", *parts, "--split", "family", "--models", "linear", "--repeats", "2", "--seed", "4",
              "-o", tmp_path / "m.csv")
    rows = pd.read_csv(tmp_path / "m.csv")
    assert set(rows["fold"]) == {"family=cnn", "family=mlp", "family=vit"} and set(rows["seed"]) == {4, 5}
    assert "mean of 2 (seeds 4-5)" in out and "standard deviation over the 2 seeds" in out
    twice = runner.invoke(app, ["fit", str(parts[0]), str(parts[0]), "-o", str(tmp_path / "b2")])
    assert twice.exit_code == 1 and "share checkpoints" in str(twice.exception)


def test_features_of_an_earlier_schema_version_and_tables_of_two_versions(tiny_zoo, tmp_path):
    assert "27 checkpoints x 937 transfer@1 features" in _ok("features", tiny_zoo, "--schema", "transfer@1",
                                                              "-o", tmp_path / "v1.parquet")
    assert "27 checkpoints x 943 transfer features" in _ok("features", tiny_zoo, "-o", tmp_path / "v2.parquet")
    mixed = _cli("fit", tmp_path / "v1.parquet", tmp_path / "v2.parquet", "-o", tmp_path / "b")
    assert mixed.returncode == 1 and "re-extract them with --schema transfer@1" in mixed.stderr
    gone = _cli("features", tiny_zoo, "--schema", "transfer@9", "-o", tmp_path / "v9.parquet")
    assert gone.returncode == 1 and "computes transfer v2 and v1, not v9" in gone.stderr


def test_predict_reports_unreadable_checkpoints(tiny_zoo, tmp_path):
    feats, bundle = tmp_path / "f.parquet", tmp_path / "pred"
    _ok("features", tiny_zoo, "-o", feats)
    _ok("fit", feats, "-o", bundle)
    bad = tmp_path / "bad.pt"
    bad.write_text("junk")
    good = next((tiny_zoo / "runs").glob("*/epoch_001.safetensors"))
    result = _cli("predict", good, bad, "--predictor", bundle, "--json")
    assert result.returncode == 1
    payload = json.loads(result.stdout)
    assert len(payload["predictions"]) == 1 and payload["failed"][0]["checkpoint"] == str(bad)


def test_exit_codes(tmp_path):
    missing = _cli("features", tmp_path / "nope", "-o", tmp_path / "f.parquet")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert _cli("fit", "--bogus").returncode == 2
    (tmp_path / "t.parquet").write_text("x")
    bad_model = _cli("evaluate", tmp_path / "t.parquet", "--models", "svm")
    assert bad_model.returncode == 2 and "--models" in bad_model.stderr
    assert _cli("zoo", "generate", tmp_path / "z", "--runs", "many").returncode == 2
    not_bundle = _cli("predict", tmp_path / "x.pt", "--predictor", tmp_path)
    assert not_bundle.returncode == 1 and "no manifest.json" in not_bundle.stderr
    assert "Traceback" not in not_bundle.stderr


def test_demo_convinces(tmp_path):
    """The demo as a new user runs it (its real configuration): held-out XGBoost R² >= 0.85 and
    Kendall tau >= 0.75, a table readable at 80 columns, a prediction with its interval and
    verdict, and a try: line that can be pasted."""
    result = _cli("demo", "--out", tmp_path / "demo")
    assert result.returncode == 0, result.stderr
    for name in ["zoo/index.parquet", "features.parquet", "predictor/manifest.json", "report/index.html"]:
        assert (tmp_path / "demo" / name).exists()
    metrics = json.loads((tmp_path / "demo/predictor/manifest.json").read_text())["info"]["heldout_metrics"]
    xgb = next(m for m in metrics if m["model"] == "xgboost")
    assert xgb["r2"] >= 0.85 and xgb["kendall_tau"] >= 0.75, xgb
    lines = result.stdout.splitlines()
    table = [line for line in lines if line.startswith(("┃", "│"))]
    assert table and max(map(len, table)) <= 80 and "…" not in result.stdout
    assert f"│ xgboost │ {xgb['r2']:.3f} │ {xgb['kendall_tau']:.3f} │" in result.stdout
    shown = re.search(r"predicted (0\.\d{4}) \(interval \d\.\d{4} - \d\.\d{4}\), actual 0\.\d{4}, domain: (\w+)",
                      result.stdout)  # as many decimals as `predict` shows
    assert shown, result.stdout
    [try_line] = [line for line in lines if line.startswith("try: ")]
    pasted = _cli(*try_line.removeprefix("try: perfpredict ").split())
    assert pasted.returncode == 0, pasted.stderr
    assert shown.group(1) in pasted.stdout and shown.group(2) in pasted.stdout  # the same prediction


def test_zoo_generate_executor_errors(tmp_path):
    bad = _cli("zoo", "generate", tmp_path / "z", "--executor", "slurm")
    assert bad.returncode == 2 and "--executor" in bad.stderr
    no_address = _cli("zoo", "generate", tmp_path / "z", "--executor", "ray", "--runs", "1")
    assert no_address.returncode == 1 and "--address" in no_address.stderr
    assert "Traceback" not in no_address.stderr


def test_features_of_a_folder_lists_failures_and_left_out_tensors(tiny_zoo, tmp_path):
    import torch

    folder = tmp_path / "mixed"
    folder.mkdir()
    for i, ckpt in enumerate(sorted((tiny_zoo / "runs").glob("*/epoch_002.safetensors"))[:2]):
        (folder / f"zoo{i}.safetensors").write_bytes(ckpt.read_bytes())
    bn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    torch.save(bn.state_dict(), folder / "bn.pt")
    (folder / "notes.pt").write_text("not a checkpoint")
    result = _cli("features", folder, "-o", tmp_path / "f.parquet", "--schema", "spectral")
    assert result.returncode == 0, result.stderr
    assert "3 checkpoints x 36 spectral features" in result.stdout
    assert "1 inputs could not be read" in result.stdout
    assert "notes.pt" in result.stderr and "1.running_var" in result.stderr
    assert "Traceback" not in result.stderr
    frame = pd.read_parquet(tmp_path / "f.parquet")
    assert sorted(frame["path"].map(lambda p: p.split("/")[-1])) == ["bn.pt", "zoo0.safetensors", "zoo1.safetensors"]


def test_fit_warns_when_held_out_accuracies_hardly_vary(tiny_zoo, tmp_path):
    from perfpredict.features import save_features, zoo_features

    table = zoo_features(tiny_zoo)
    flat = type(table)(table.frame.assign(test_accuracy=0.5), table.schema, table.schema_version, table.feature_names)
    save_features(flat, tmp_path / "flat.parquet")
    result = _cli("fit", tmp_path / "flat.parquet", "-o", tmp_path / "b", "--models", "linear", "--no-tune")
    assert result.returncode == 0 and "hardly vary (standard deviation 0.0 points)" in " ".join(result.stderr.split())


def test_the_cli_extracts_the_library_default_schema():
    from perfpredict import cli
    from perfpredict.features import DEFAULT_SCHEMA

    assert cli.DEFAULT_SCHEMA == DEFAULT_SCHEMA  # written out in the CLI, which does not import torch
