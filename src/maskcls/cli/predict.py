"""``maskcls predict``: a run's model over a competition eval folder, as a submission."""

from __future__ import annotations

from pathlib import Path

import typer


def predict(
    run: Path = typer.Argument(..., help="Run folder (holding config.yaml and best.pt)."),
    eval_root: Path = typer.Argument(..., help="Competition root or eval folder (info.csv + images/)."),
    out: Path = typer.Option(Path("submission.csv"), "--out", "-o", help="Submission CSV to write."),
    batch_size: int = typer.Option(64, "--batch-size"),
) -> None:
    """Predict every image of eval/info.csv, keeping its row order; also writes <out>_probs.npy."""
    from maskcls.cli.render import console
    from maskcls.data.layout import scan_eval
    from maskcls.errors import MaskclsError
    from maskcls.inference.predictor import Predictor
    from maskcls.inference.submission import write_submission

    evalset = scan_eval(eval_root)
    errors = [p for p in evalset.problems if p.severity == "error"]
    if errors:
        raise MaskclsError(f"{errors[0]} ({len(errors)} eval problem(s))")
    predictor = Predictor.from_run(run)
    probs, bad = predictor.predict_paths(evalset.paths, batch_size)
    if bad:
        first = next(iter(bad.values()))
        raise MaskclsError(f"{first} ({len(bad)} unreadable eval image(s))")
    write_submission(out, evalset.image_ids, probs.argmax(1), probs)
    console.print(f"submission: {out} ({len(evalset.image_ids)} rows, order of {evalset.info_csv})")
