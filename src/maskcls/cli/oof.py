"""``maskcls oof``: out-of-fold scores of k-fold runs, and soft-vote weights searched on them."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def oof(
    runs: str = typer.Argument(..., help="k-fold run folder(s) holding oof.csv, comma-separated: RUN[,RUN...]."),
    step: float = typer.Option(0.1, "--step", help="Grid step of the weight search (1/k: 0.1, 0.05 …)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the figures and best weights as JSON here."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """Out-of-fold macro F1, accuracy and per-task F1 of each run; with several runs, the soft-vote weights that
    maximise OOF macro F1 (plus a fold-wise cross-validated F1 of that search) for `predict --weights`."""
    import json

    from maskcls.errors import MaskclsError
    from maskcls.fileio import write_text
    from maskcls.inference.oof import load_oof, member_row, search_report

    folders = [Path(r) for r in runs.split(",") if r.strip()]
    if out is not None and out.exists():
        raise MaskclsError(f"{out}: already exists (choose another --out)")
    loaded = [load_oof(folder) for folder in folders]
    if len(loaded) == 1:
        result = {"members": [member_row(loaded[0])], "per_fold": _per_fold(loaded[0])}
    else:
        result = search_report(loaded, step).to_dict()
    if out is not None:
        write_text(out, json.dumps(result, indent=1) + "\n")
    if as_json:
        typer.echo(json.dumps(result, indent=1))
        return
    _print(result, out)


def _per_fold(run) -> list[dict]:
    from maskcls.metrics import score_labels

    rows = []
    for fold in sorted(set(run.folds.tolist())):
        held = run.folds == fold
        score = score_labels(run.y_true[held], run.y_pred[held], run.bands)
        rows.append({"fold": fold, "macro_f1": score.macro_f1, "accuracy": score.accuracy, "n": score.n})
    return rows


def _print(result: dict, out: Path | None) -> None:
    import pandas as pd

    from maskcls.cli.render import console, counts_table, frame_table

    console.print(frame_table("out-of-fold scores per run", pd.DataFrame(result["members"]).round(4)))
    if "per_fold" in result:
        console.print(frame_table("per fold", pd.DataFrame(result["per_fold"]).round(4)))
    else:
        best = max(m["macro_f1"] for m in result["members"])
        weights = ",".join(f"{w:g}" for w in result["weights"])
        console.print(counts_table("soft-vote ensemble (out of fold)", {
            "best single run": f"{best:.4f}",
            "equal weights": f"{result['equal_f1']:.4f}",
            f"best weights {weights} (chosen on these rows)": f"{result['best_f1']:.4f}",
            "weights chosen on the other folds (cross-validated)": f"{result['cv_f1']:.4f}",
            "photos": f"{result['n']:,}",
        }))
        console.print(f"use: maskcls predict RUN,RUN... TARGET --weights {weights}", highlight=False)
    if out is not None:
        console.print(f"written: {out}")
