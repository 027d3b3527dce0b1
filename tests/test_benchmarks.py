"""The results scripts of benchmarks/, run end to end on a small part of the committed
reference tables (the full runs are in benchmarks/RESULTS.md)."""

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from perfpredict.features import FeatureTable, load_features, save_features
from perfpredict.predictor.intervals import conformal_halfwidth

REPO = Path(__file__).parents[1]
RUNS_PER_FAMILY = 10


def _part(table: FeatureTable, runs: set) -> FeatureTable:
    frame = table.frame[table.frame["run_id"].isin(runs)].reset_index(drop=True)
    return FeatureTable(frame, table.schema, table.schema_version, table.feature_names)


@pytest.fixture()
def zoo_v2(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import zoo_v2

    return zoo_v2


def _assert_committed(spec) -> None:
    """The committed spec of ``spec``'s portion is the one the script writes."""
    committed = json.loads((REPO / "data" / "specs" / "v2" / f"{spec.name}.json").read_text())
    assert committed == json.loads(json.dumps(spec.to_dict()))


@pytest.fixture(scope="module")
def scripts():
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(REPO / "benchmarks"))
        import domain_quality
        import predictor_variants
        import reference_results
        yield reference_results, predictor_variants, domain_quality


@pytest.fixture(scope="module")
def tables(scripts):
    """The first runs of each family of each reference zoo, in every schema."""
    full = scripts[0].load_tables(REPO / "data" / "zoos", scripts[0].DATASETS)
    out = {}
    for ds, schemas in full.items():
        frame = schemas["agnostic"].frame
        runs = set(frame.groupby("family")["run_id"].apply(lambda r: list(r.unique()[:RUNS_PER_FAMILY])).sum())
        out[ds] = {name: _part(t, runs) for name, t in schemas.items()}
    return out


def test_reference_results_tables_and_targets(scripts, tables):
    results = scripts[0]
    assert set(tables) == {"mnist", "fashion_mnist", "cifar10"}
    rows = results.score_all(tables, ("xgboost", "linear"), seed=0, tune=False)
    assert set(rows["split"]) == {"run", "family", "dataset"}
    within = results.within_family(rows)
    cells = within.groupby(["dataset", "family", "features", "model"]).size()
    assert len(cells) == 3 * 4 * 6 * 2 + 3 * 4  # datasets x (3 families + all) x features x models, + constant
    targets = results.targets(rows)
    assert set(targets["met"]) <= {"yes", "**missed**"}
    mlp = within.query("dataset == 'mnist' and family == 'mlp' and features == 'agnostic' and model == 'xgboost'")
    r2_row = targets[targets["target"] == "mnist mlp R² ≥ 0.98"]
    assert r2_row["measured"].item() == mlp["r2"].item()
    assert r2_row["met"].item() == ("yes" if mlp["r2"].item() >= 0.98 else "**missed**")
    assert len(targets[targets["target"].str.contains("family=")]) == 9  # leave one family out, per dataset
    sizes = results.zoo_size(tables, seed=0, tune=False)
    for _, part in sizes.groupby("dataset"):
        assert part["training runs"].is_monotonic_increasing and len(part) == len(results.FRACTIONS)
        assert np.isfinite(part[["r2", "r2 cnn", "r2 mlp", "r2 vit"]].to_numpy()).all()
    text = results.report(rows, tables, sizes)
    for section in ("### Run split", "### Baselines", "### Leave one family out", "### Zoo size",
                    "### Good vs poor runs", "### Targets"):
        assert section in text


def test_predictor_variants(scripts, tables, tmp_path):
    save_features(tables["mnist"]["agnostic"], tmp_path / "mnist.parquet")
    out = scripts[1].compare(tmp_path / "mnist.parquet")
    assert list(out["variant"]) == [*scripts[1].VARIANTS, "one per family (untuned)"]
    assert np.isfinite(out[["r2", "kendall_tau", "r2 cnn", "r2 mlp", "r2 vit"]].to_numpy()).all()


def test_mlp_step_floor_times_the_trainers_own_products(monkeypatch):
    """The floor must do the trainer's matrix products, FLOP for FLOP, or the ratio means nothing."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import mlp_step_floor

    flops = {}
    for mode in ("products", "floor", "trainer"):
        flops[mode], rate = mlp_step_floor.measure(mode, steps=2, workers=1)
        assert rate > 0
    assert flops["products"] == flops["floor"] == flops["trainer"]
    # 784-256-256-10, 8 members, batch 64: forward, weight gradients, inputs' gradients
    per_member = 2 * 64 * (784 * 256 + 256 * 256 + 256 * 10)
    assert flops["trainer"] == 8 * (2 * per_member + 2 * 64 * (256 * 256 + 256 * 10))


def test_domain_quality_script(scripts, tables):
    rows = {r["fold"]: r for r in scripts[2].fold_rows(tables["mnist"]["agnostic"], "family", 0)}
    assert set(rows) == {"family=cnn", "family=mlp", "family=vit"}
    for row in rows.values():  # every held-out family has a kind of architecture the others lack
        assert row["outside"] == 1.0 and row["covered_or_outside"] == 1.0
        assert row["covered_or_outside_statistical"] >= row["coverage"] and row["width"] >= row["width_plain"] - 1e-9
    [run] = scripts[2].fold_rows(tables["mnist"]["agnostic"], "run", 0)
    assert 0 < run["coverage"] <= run["covered_or_outside"] <= 1 and 0 <= run["outside_statistical"] <= run["outside"]
    aucs = {r["fold"]: r for r in scripts[2].score_auc(tables["mnist"]["agnostic"], "family", 0)}
    assert set(aucs) == set(rows) and all(0 <= v <= 1 for r in aucs.values() for k, v in r.items() if k != "fold")


def test_probe_zoo_summary(tiny_zoo, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import probe_zoo

    table = probe_zoo.summary(tiny_zoo).set_index("family")
    assert set(table.index) == {"mlp", "cnn", "vit"} and (table["runs"] == 3).all()
    assert ((table["min"] <= table["median"]) & (table["median"] <= table["max"])).all()
    assert table["best recipe"].str.contains(" lr ").all() and (table["train s/run"] > 0).all()


def test_transfer_feature_sets_and_leave_one_family_out(tiny_zoo, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import transfer

    tables = transfer.feature_sets([transfer.portion_table(tiny_zoo, tmp_path)])  # extracted: transfer v2
    assert list(tables) == ["agnostic", "learned", "alignment", "transfer"]
    assert (tmp_path / "tiny-transfer.parquet").exists()
    every = tables["transfer"]
    assert len(every.frame) == len(tables["agnostic"].frame) == len(tables["alignment"].frame)
    assert every.feature_names == [n for s in ("agnostic", "learned", "alignment") for n in tables[s].feature_names]
    old = every.select("transfer@1")  # a portion whose table is transfer v1, pooled with the v2 one
    save_features(FeatureTable(old.frame.assign(run_id=old.frame["run_id"] + "-old"), old.schema, old.schema_version,
                               old.feature_names), tmp_path / "old-transfer.parquet")
    earlier = transfer.feature_sets([transfer.portion_table(z, tmp_path) for z in (tiny_zoo, tmp_path / "old")])
    assert list(earlier) == ["agnostic", "learned", "transfer"] and earlier["transfer"].schema_version == 1
    portion = tmp_path / "portion"  # a committed portion: its v2 table is read before its v1 one
    portion.mkdir()
    save_features(old, portion / "features-transfer.parquet")
    assert transfer.portion_table(portion, None).schema_version == 1
    save_features(every, portion / "features-transfer-v2.parquet")
    assert transfer.portion_table(portion, None).schema_version == 2
    rows = transfer.scores(tables, "family")
    assert set(rows["features"]) == set(tables)
    assert set(rows["fold"]) == {"family=mlp", "family=cnn", "family=vit"} and rows["kendall_tau"].between(-1, 1).all()


def test_wild_recipes_train_save_in_each_format_and_are_assessed(tmp_path, data_root, monkeypatch):
    """A few steps of one recipe per checkpoint format and dataset, then the shipped predictor's
    assessment of them, as ``benchmarks/wild`` trains and evaluates the whole set."""
    from dataclasses import replace

    monkeypatch.syspath_prepend(str(REPO / "benchmarks" / "wild"))
    import evaluate
    import recipes
    import train

    by_dataset = pd.Series([r.dataset for r in recipes.RECIPES.values()]).value_counts()
    assert by_dataset.to_dict() == {"mnist": 12, "fashion_mnist": 12, "cifar10": 12}
    names = ("mnist-whole-model", "mnist-keras-mlp-512", "fmnist-bn-cnn-adam", "fmnist-pytorch-quickstart",
             "cifar-mlp", "cifar-tutorial-net")
    rows = [train.run(replace(recipes.RECIPES[n], max_steps=5), tmp_path) for n in names]
    table = pd.DataFrame(rows)
    assert set(table["format"]) == set(train.SUFFIX) and (table["steps"] == 5).all()
    assert table["test_accuracy"].between(0, 1).all()
    cifar = table[table["dataset"] == "cifar10"]
    assert cifar["official_test_1000"].between(0, 1).all() == ("data_batch_5" in cifar["eval_split"].iloc[0])
    found = evaluate.assess(table, tmp_path, None)
    assert list(found["name"]) == list(names) and found["predicted"].between(0, 1).all()
    again = evaluate.assess_features(evaluate.features(table, tmp_path), None)  # as without the checkpoints
    assert np.allclose(again["predicted"], found["predicted"], atol=1e-6)
    assert list(again["verdict"]) == list(found["verdict"])
    summary = evaluate.summary(found).set_index("dataset")
    assert set(summary.index) == {"mnist", "fashion_mnist", "cifar10"}
    assert summary["covered or outside"].between(0, 1).all() and (summary["checkpoints"] == 2).all()


def test_holdout_recipes_are_new_and_prune_finetune_quantize_and_filter_classes(tmp_path, data_root, monkeypatch):
    """The held-out wild set: 12 recipes per dataset, none named as in the first set, each
    trainable and saved in a format perfpredict reads; and the mechanisms only it uses."""
    from dataclasses import replace

    monkeypatch.syspath_prepend(str(REPO / "benchmarks" / "wild"))
    import evaluate
    import holdout
    import recipes
    import train
    from perfpredict.data import load_dataset

    by_dataset = pd.Series([r.dataset for r in holdout.HOLDOUT.values()]).value_counts()
    assert by_dataset.to_dict() == {"mnist": 12, "fashion_mnist": 12, "cifar10": 12}
    assert not set(holdout.HOLDOUT) & set(recipes.RECIPES)
    assert set(train.SETS) == {"wild", "holdout"}

    mnist = load_dataset("mnist")
    pruned = replace(holdout.HOLDOUT["mnist-lenet-300-100-pruned"], epochs=1, train_subset=120)  # 2 batches
    model, _, steps = train.train(pruned, mnist)
    weights = torch.cat([w.detach().flatten() for w in train._weights(model)])
    assert steps == 2 + 2 and 0.79 < float((weights == 0).float().mean()) < 0.81  # zeros kept through fine-tuning
    int8 = replace(holdout.HOLDOUT["fmnist-tf-basic-int8"], max_steps=3)
    model, _, _ = train.train(int8, load_dataset("fashion_mnist"))
    assert all(len(torch.unique(w)) <= 255 for w in train._weights(model))
    five = holdout.HOLDOUT["mnist-five-classes"]
    _, y = train._training_data(five, mnist, torch.Generator().manual_seed(0))
    assert set(y.tolist()) == {0, 1, 2, 3, 4}

    names = ("mnist-nielsen-ch6-conv", "fmnist-d2l-bn-lenet", "cifar-bn-mlp", "cifar-vit-patch8")
    rows = [train.run(replace(holdout.HOLDOUT[n], max_steps=2), tmp_path) for n in names]
    table = pd.DataFrame(rows)
    assert list(table["format"]) == ["whole", "snapshot", "lightning", "lightning"]
    found = evaluate.features(table, tmp_path)  # raises if a checkpoint cannot be read
    assert list(found.frame["name"]) == list(names)


@pytest.mark.parametrize("name", ["wild", "holdout"])
def test_each_wild_set_commits_one_row_and_one_feature_row_per_recipe(name, monkeypatch):
    """The committed table and feature rows of each set: one per recipe, the same accuracies,
    so that ``evaluate.py`` without the checkpoints assesses exactly the trained networks."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks" / "wild"))
    import evaluate
    import train

    recipes, path = train.SETS[name]
    table = pd.read_csv(path)
    assert (table["dataset"] == [recipes[n].dataset for n in table["name"]]).all()
    stored = [evaluate.features_file(path, v) for v in (1, 2) if evaluate.features_file(path, v).exists()]
    assert stored[0].name == evaluate.FEATURES  # v1's rows, which the shipped predictor reads
    for file in stored:
        rows = load_features(file).frame
        assert list(table["name"]) == list(rows["name"]) and set(table["name"]) == set(recipes)
        assert np.allclose(table["test_accuracy"], rows["test_accuracy"])


def test_zoo_v2_results_targets_from_portion_tables(tiny_zoo, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import zoo_v2_results
    from perfpredict.features import zoo_features

    table = zoo_features(tiny_zoo, "transfer")
    for family, part in table.frame.groupby("family"):  # one portion per family, as zoo v2 is cut
        folder = tmp_path / f"v2-digits-{family}"
        folder.mkdir()
        save_features(FeatureTable(part.reset_index(drop=True), table.schema, table.schema_version,
                                   table.feature_names), folder / "features-transfer.parquet")
    tables = zoo_v2_results.load_tables(tmp_path)
    assert list(tables) == ["digits"] and len(tables["digits"].frame) == len(table.frame)
    rows = zoo_v2_results.score_all(tables, tune=False, seed=0)
    assert {"run", "family"} <= set(rows["split"]) and "hyperparameters" in set(rows["features"])
    wild = {"summary": [{"dataset": "mnist", "checkpoints": 12, "MAE (points)": 2.5, "spearman": 0.4,
                         "covered or outside": 0.95}]}
    found = zoo_v2_results.targets(rows, wild).set_index("target")
    assert found.loc["wild mnist MAE ≤ 3 points", "met"] == "yes"
    assert found.loc["wild mnist Spearman ≥ 0.6", "met"] == "**missed**"
    assert any(t.startswith("digits weights R² above hyperparameters") for t in found.index)
    run = rows[(rows.split == "run") & rows.subset.str.startswith("family=") & (rows.features == "transfer")
               & (rows.model == "xgboost")]
    assert sum("held out τ" in t for t in found.index) == 3 and sum("run split R²" in t for t in found.index) == len(run)
    text = zoo_v2_results.report(rows, tables, wild)
    assert "### Wild set" in text and "### Targets" in text and "### Good vs poor runs" in text
    # the good-vs-poor test needs 4 runs per family: the tiny zoo twice, the copy a little worse
    copy = table.frame.assign(run_id=table.frame["run_id"] + "-copy", test_accuracy=table.frame["test_accuracy"] - 0.01)
    doubled = FeatureTable(pd.concat([table.frame, copy], ignore_index=True), table.schema, table.schema_version,
                           table.feature_names)
    sim = zoo_v2_results.similarity({"digits": doubled})
    assert set(sim["features"]) == {"agnostic", "learned", "transfer"} and set(sim["scope"]) > {"all families"}


def test_top_up_portions_sample_only_the_tutorial_corner(zoo_v2):
    spec = zoo_v2.top_portion("cifar10")
    runs = spec.runs()
    assert len(runs) == 3 * zoo_v2.TOP_RUNS and {r.family for r in runs} == set(zoo_v2.TOP_FAMILIES)
    assert {r.activation for r in runs} == {"relu"} and {r.data_fraction for r in runs} == {1.0}
    assert {r.label_noise for r in runs} == {0.0} and {r.epochs for r in runs} <= {2, 3, 4}
    for r in runs:
        low, high = zoo_v2.TOP["lr_ranges"][r.optimizer]
        assert low <= r.lr <= high, (r.optimizer, r.lr)
    _assert_committed(spec)


def test_interval_bands_widths_and_coverage(tiny_zoo, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import interval_bands
    from perfpredict.features import zoo_features

    table = zoo_features(tiny_zoo, "transfer")
    model, held = interval_bands.held_out_errors(table)
    assert 0 < len(held) < len(table.frame) and set(held["dataset"]) == {"digits"}
    per_dataset, per_band = interval_bands.halfwidths(held)
    assert per_dataset["digits"] == conformal_halfwidth(held["error"], 0.9)  # per checkpoint
    assert len(per_band) == held["band"].nunique()
    rows = pd.DataFrame({"dataset": ["digits"] * 3, "test_accuracy": [0.5, 0.5, 0.97],
                         "predicted": [0.5, 0.5 + 2 * per_dataset["digits"] + 0.01, 0.96]})
    widths = pd.Series({("digits", pd.Interval(0.95, 1.0)): 0.005})
    found = interval_bands.covered(rows, per_dataset, widths)
    assert found["per_dataset"].tolist() == [True, False, per_dataset["digits"] >= 0.01]
    assert found["per_band"].tolist() == [True, False, False]  # the top band's own width is 0.5 points


def test_averaged_fits_assess_each_recipe_and_measure_the_seed_spread(tiny_zoo, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import averaged_fits
    from perfpredict.features import zoo_features

    table = zoo_features(tiny_zoo, "transfer")
    named = dataclasses.replace(table, frame=table.frame.assign(name=table.frame["run_id"]))
    rows = averaged_fits.predictions(table, named, n_fits=2, refit=True, seed=0, threads=1)
    assert len(rows) == len(table.frame) and rows["predicted"].between(rows["low"], rows["high"]).all()
    frame = pd.DataFrame({"dataset": ["a", "a"], "measured": [0.5, 0.6], "verdict": "in_domain",
                          "covered_or_outside": True})
    runs = {("one", s): frame.assign(predicted=p, error=(frame["measured"] - p).abs())
            for s, p in enumerate(([0.5, 0.6], [0.7, 0.6]))}
    (row,) = averaged_fits.summary(runs).to_dict(orient="records")
    assert row["seed_spread_points"] == pytest.approx(5.0)  # stds 0.1 and 0 across seeds, in points
    assert row["mae_min"] == 0 and row["mae_max"] == pytest.approx(10.0) and row["covered_or_outside_min"] == 1.0


def test_zoo_size_curves_share_held_out_rows_and_nest_training_runs(tiny_zoo, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import zoo_size
    from perfpredict.features import zoo_features

    kept = zoo_size.nested_runs(np.array(list("aabbccddeeffgghh")), (0.125, 0.5, 1.0), seed=1)
    assert [len(r) for r in kept.values()] == [2, 4, 8] and set(kept[1.0]) == set("abcdefgh")
    assert set(kept[0.125]) <= set(kept[0.5]) <= set(kept[1.0])
    table = zoo_features(tiny_zoo, "transfer")
    rows = zoo_size.curve(table, "run", seeds=2, fractions=(0.5, 1.0), n_jobs=1)
    assert set(rows["fraction"]) == {0.5, 1.0} and set(rows["seed"]) == {0, 1}
    for _, part in rows.groupby(["seed", "family"]):  # the same held-out checkpoints for every fraction
        assert part["n"].nunique() == 1 and len(part) == 2
        assert part.sort_values("fraction")["runs"].is_monotonic_increasing
    assert "all" in set(rows["family"]) and rows.loc[rows["family"] == "all", "n"].iloc[0] < len(table.frame)
    by_family = zoo_size.curve(table, "family", seeds=1, fractions=(1.0,), n_jobs=1)
    assert set(by_family["fold"]) == {"family=mlp", "family=cnn", "family=vit"}
    assert (by_family["family"] == by_family["fold"].str.removeprefix("family=")).all()


def test_zoo_size_doublings_extrapolate_the_last_gain(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import zoo_size

    rows = pd.DataFrame({"dataset": "mnist", "family": "all", "fraction": [0.5, 1.0, 0.5, 1.0],
                         "runs": [50, 100, 50, 100], "r2": [0.90, 0.96, 0.90, 0.96], "tau": [0.60, 0.70, 0.62, 0.70]})
    found = zoo_size.doublings(rows).iloc[0]
    assert found["runs"] == 100 and found["doublings to 0.95"] == 0.0
    assert found["tau gain per doubling"] == pytest.approx(0.09)
    assert found["doublings to 0.85"] == pytest.approx(0.15 / 0.09)
    flat = zoo_size.doublings(rows.assign(tau=0.7)).iloc[0]
    assert flat["doublings to 0.85"] == np.inf


def test_alignment_probe_joins_a_portion_and_scores_its_feature_sets(tiny_zoo, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import alignment_probe as probe
    from perfpredict.features import zoo_features

    zoo = tmp_path / "zoo"
    shutil.copytree(tiny_zoo, zoo)
    v2 = zoo_features(zoo, "transfer")  # holds the alignment statistics already: the probe takes v1 out of it
    save_features(v2, zoo / "features-transfer.parquet")
    table = probe.probe_table(zoo)
    index = pd.read_parquet(zoo / "index.parquet")
    assert len(table.frame) == int((index["status"] == "ok").sum()) and table.schema_version == 1
    assert table.frame[probe.STATS].notna().any().all()
    joined = v2.frame.merge(table.frame, on=["run_id", "epoch"], suffixes=("", "_probe"))
    np.testing.assert_allclose(joined[[f"{k}_probe" for k in probe.STATS]], joined[probe.STATS])
    found = probe.correlations(table)
    assert set(found["family"]) == {"mlp", "cnn", "vit"} and set(found["checkpoints"]) == {"all", "trained"}
    rows = probe.scores(table, "run", 0)
    assert set(rows["features"]) == {"transfer", "learned", "transfer+alignment", "learned+alignment"}
    assert len(rows) == 4 and rows["kendall_tau"].between(-1, 1).all()


def test_small_data_portions_train_long_on_little_data(zoo_v2):
    spec = zoo_v2.small_portion("mnist")
    runs = spec.runs()
    assert len(runs) == 3 * zoo_v2.SMALL_RUNS and {r.family for r in runs} == set(zoo_v2.TOP_FAMILIES)
    assert all(0.02 <= r.data_fraction <= 0.1 and 10 <= r.epochs <= 40 for r in runs)
    assert {r.activation for r in runs} == {"relu"} and {r.label_noise for r in runs} == {0.0}
    assert max(r.checkpoint_epochs[-1] for r in runs) == max(r.epochs for r in runs)  # the final epoch is saved
    _assert_committed(spec)


def test_shallow_portions_add_softmax_regression_and_one_small_hidden_layer(zoo_v2):
    for dataset in zoo_v2.DATASETS:
        assert f"v2-{dataset}-shallow" in [s.name for s in zoo_v2.specs(dataset)]
    spec = zoo_v2.shallow_portion("fashion_mnist")
    runs = spec.runs()
    assert len(runs) == zoo_v2.SHALLOW_RUNS and {r.family for r in runs} == {"mlp"}
    assert {r.arch["depth"] for r in runs} == {0, 1} and {r.arch["width"] for r in runs} <= {16, 32, 64}
    assert all(1 <= r.epochs <= 8 for r in runs) and len({r.optimizer for r in runs}) > 3  # the full space
    assert sum(r.arch["depth"] == 0 for r in runs) >= 10
    _assert_committed(spec)


@pytest.mark.parametrize("kind, families, runs, epochs", [("long", ("lenet", "cnn"), 20, (6, 12)),
                                                         ("long2", ("resnet", "vit"), 8, (6, 10)),
                                                         ("long3", ("mlp",), 60, (4, 16))])
def test_the_long_portions_train_the_tutorial_corner_longer(zoo_v2, kind, families, runs, epochs):
    assert [s.name for s in zoo_v2.specs("cifar10")][-3:] == [f"v2-cifar10-long{k}" for k in ("", "2", "3")]
    assert not any("-long" in s.name for s in zoo_v2.specs("mnist"))
    spec = getattr(zoo_v2, f"{kind}_portion")("cifar10")
    found = spec.runs()
    assert len(found) == len(families) * runs and {r.family for r in found} == set(families)
    assert all(epochs[0] <= r.epochs <= epochs[1] and r.data_fraction == 1.0 for r in found)
    assert min(r.epochs for r in found) < sum(epochs) / 2 < max(r.epochs for r in found)  # spread over the range
    assert {r.activation for r in found} == {"relu"} and {r.label_noise for r in found} == {0.0}
    assert max(r.checkpoint_epochs[-1] for r in found) == max(r.epochs for r in found)  # the final epoch is saved
    _assert_committed(spec)


def test_transfer_v2_tables_describe_the_committed_checkpoints():
    """A portion generated again for ``transfer`` v2 has the same checkpoints (SHA-256 and
    accuracies) as its v1 table, and its v1 columns are the v1 features (up to the float
    rounding of another batching)."""
    found = sorted((REPO / "data" / "zoos").glob("v2-*/features-transfer-v2.parquet"))
    assert found, "no portion has a transfer v2 table"
    for path in found:
        new, old = load_features(path), load_features(path.with_name("features-transfer.parquet"))
        assert (new.schema, new.schema_version, old.schema_version) == ("transfer", 2, 1), path
        a, b = (t.frame.sort_values(["run_id", "epoch"]).reset_index(drop=True) for t in (old, new.select("transfer@1")))
        meta = [c for c in a.columns if c not in old.feature_names and c != "train_seconds"]
        pd.testing.assert_frame_equal(a[meta], b[meta])
        x, y = a[old.feature_names].to_numpy(), b[old.feature_names].to_numpy()
        close = np.isclose(x, y, rtol=1e-4, atol=1e-6, equal_nan=True)
        assert close.mean() > 0.999, f"{path}: {close.size - close.sum()} v1 values differ"
        assert new.frame[[c for c in new.feature_names if c.startswith("alignment.")]].notna().any().all(), path


def test_raw_pixel_recipes_are_trained_and_compared_with_their_standardized_versions(tmp_path, data_root,
                                                                                      monkeypatch):
    from dataclasses import replace

    monkeypatch.syspath_prepend(str(REPO / "benchmarks" / "wild"))
    import raw_inputs
    from perfpredict.data import load_dataset

    raw = raw_inputs.raw_pixels(load_dataset("cifar10"))
    assert np.allclose(raw.x_train.amin(dim=(0, 2, 3)), 0) and np.allclose(raw.x_train.amax(dim=(0, 2, 3)), 1)
    assert abs(float(raw.x_train[:, 0].mean()) - 0.49) < 0.02  # CIFAR-10's red channel, as ToTensor() gives it
    names = ("mnist-keras-mlp-512", "cifar-mlp")
    rows = pd.DataFrame([raw_inputs.train_raw(replace(raw_inputs.RECIPES[n], max_steps=3), tmp_path) for n in names])
    table = raw_inputs.compare(rows, tmp_path)
    wild = pd.read_csv(REPO / "benchmarks" / "wild" / "wild.csv").set_index("name")
    assert list(table["name"]) == list(names)
    assert np.allclose(table["standardized"], wild.loc[list(names), "test_accuracy"])
    assert table["predicted (raw)"].between(0, 1).all() and (table["low (raw)"] <= table["high (raw)"]).all()


def test_transfer_v2_gate_scores_and_checks(tiny_zoo, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import transfer_v2_gate as gate
    from perfpredict.features import zoo_features

    run = gate.run_scores({"digits": zoo_features(tiny_zoo, "transfer")}, seeds=1, n_fits=1, threads=1)
    assert list(run.index) == ["digits"] and run.loc["digits", "r2"] <= 1 and 0 <= run.loc["digits", "coverage"] <= 1

    def wild(mae, rho, covered):
        return pd.DataFrame({"MAE (points)": mae, "spearman": rho, "covered or outside": covered},
                            index=["mnist", "cifar10"])

    def runs(r2, coverage):
        return pd.DataFrame({"r2": r2, "coverage": coverage}, index=["mnist", "cifar10"])

    checks = gate.verdict({1: wild([3.0, 10.0], [0.8, 0.3], [1.0, 1.0]), 2: wild([3.5, 10.6], [0.7, 0.1], [1.0, 0.85])},
                          {1: runs([0.90, 0.50], [0.91, 0.85]), 2: runs([0.89, 0.48], [0.88, 0.84])},
                          {"lenet5": True, "bn-resnet": False}).set_index("check")["passes"]
    assert checks["(a) mnist covered or outside ≥ 0.9"] and not checks["(a) cifar10 covered or outside ≥ 0.9"]
    assert checks["(b) mnist ρ ≥ 0.6"] and "(b) cifar10 ρ ≥ 0.6" not in checks  # ρ is asked of MNIST and F-MNIST
    assert checks["(c) mnist MAE ≤ v1 + 0.5"] and not checks["(c) cifar10 MAE ≤ v1 + 0.5"]
    assert not checks["(d) every domain example covered or outside"]
    assert checks["(e) mnist run-split R² ≥ v1 - 0.01"] and not checks["(e) cifar10 run-split R² ≥ v1 - 0.01"]
    assert not checks["(e) mnist coverage ≥ v1 - 0.02"] and checks["(e) cifar10 coverage ≥ v1 - 0.02"]
