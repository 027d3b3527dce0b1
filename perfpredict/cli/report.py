"""``perfpredict report`` and ``perfpredict demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import DEFAULT_SCHEMA, console, generate_zoo_with_progress, metrics_table, zoo_table


def report(
    source: Path = typer.Argument(..., exists=True, help="A zoo folder, or a feature table (.parquet) of a zoo."),
    output: Path = typer.Option(..., "-o", "--output", help="Report folder to write."),
    predictor: Optional[Path] = typer.Option(None, exists=True, file_okay=False,
                                             help="Predictor bundle to explain (default: fit one on a run split)."),
    zoo: Optional[Path] = typer.Option(None, exists=True, file_okay=False,
                                       help="The zoo a feature table was made from (for weight histograms)."),
    schema: str = typer.Option(DEFAULT_SCHEMA, help="Features to extract when SOURCE is a zoo."),
    quantile: float = typer.Option(0.25, min=0.05, max=0.5, help="Good / poor runs: top / bottom fraction."),
    seed: int = typer.Option(0, help="Seed of the split and the permutations."),
) -> None:
    """Write a report: feature importance and the analysis of good vs poor networks, as
    index.html with figures, CSV and JSON tables."""
    from .._io import sha256_file
    from ..predictor.bundles import load_bundle
    from ..features import load_features
    from ..report import ReportConfig, build_report

    bundle = load_bundle(predictor) if predictor is not None else None
    provenance: dict[str, object] = {}
    if source.is_dir():
        zoo, table = source, zoo_table(source, schema)
    else:
        table = load_features(source)
        provenance["features"] = f"{source} (SHA-256 {sha256_file(source)})"
    if zoo is not None:
        from ..zoo import ZooStore

        meta = ZooStore(zoo).read_meta()
        provenance["zoo"] = f"{zoo} (spec {meta['spec'].get('name')}, made with {meta.get('versions')})"
    if predictor is not None:
        provenance["predictor"] = f"{predictor} (fitted on features {bundle.info.get('features')})"
    config = ReportConfig(quantile=quantile, random_state=seed)
    index = build_report(table, output, bundle=bundle, zoo=zoo, config=config, provenance=provenance)
    console.print(f"report -> {index}")


def demo(
    out: Path = typer.Option(Path("perfpredict-demo"), "--out", help="Folder for everything the demo writes."),
    runs: int = typer.Option(128, min=2, help="Runs per family."),
    epochs: int = typer.Option(16, min=1, help="Epochs per run."),
    workers: Optional[int] = typer.Option(None, min=0, help="Worker processes (default: one per core)."),
) -> None:
    """Zoo on scikit-learn digits -> features -> predictors -> report -> one prediction."""
    import dataclasses

    from ..predictor.bundles import save_bundle
    from ..features import save_features, zoo_features
    from ..report import build_report
    from ..workflows import DEMO_SPEC, fit_bundle

    spec = dataclasses.replace(DEMO_SPEC, runs_per_group=runs, epochs=epochs)
    console.rule(f"1/5 zoo: {runs} MLPs and {runs} CNNs on scikit-learn digits")
    generate_zoo_with_progress(spec, out / "zoo", None, workers, "auto")
    console.rule("2/5 features")
    table = zoo_features(out / "zoo")
    save_features(table, out / "features.parquet")
    console.rule("3/5 predictors (split by run)")
    result = fit_bundle(table, tune=False)  # early-stopped trees: the settings search adds a minute, not quality
    save_bundle(result.bundle, out / "predictor")
    console.print(metrics_table(result.metrics, "held-out runs"))
    console.rule("4/5 report")
    report_index = build_report(table, out / "report", bundle=result.bundle, zoo=out / "zoo",
                                provenance={"zoo": str(out / "zoo")})
    console.rule("5/5 predict one held-out checkpoint")
    row = table.frame.iloc[result.test_rows].sort_values("epoch").iloc[-1]
    ckpt = out / "zoo" / row["path"]
    [pred] = result.bundle.assess([ckpt])
    interval = "" if pred.interval is None else " (interval {:.4f} - {:.4f})".format(*pred.interval)
    console.print(f"{ckpt}\n  predicted {pred.accuracy:.4f}{interval}, actual {row['test_accuracy']:.4f}, "
                  f"domain: {pred.verdict}", soft_wrap=True)
    console.print(f"\nzoo: {out / 'zoo'}\nfeatures: {out / 'features.parquet'}\n"
                  f"predictor: {out / 'predictor'}\nreport: {report_index}\n"
                  f"try: perfpredict predict {ckpt} --predictor {out / 'predictor'}", soft_wrap=True)
