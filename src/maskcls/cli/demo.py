"""``maskcls demo``: the whole flow on built-in synthetic data, with the command behind every step shown."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    ctx: typer.Context,
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Demo folder (a new -N folder if it exists)."),
    people: int = typer.Option(60, "--people", help="Synthetic training people (7 photos each)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Synthetic competition data → check → EDA → split → train → predict → score, in a few minutes on a CPU."""
    from maskcls.cli.render import console
    from maskcls.fileio import unique_dir

    folder = unique_dir(out)
    data = folder / "data"
    steps = [
        ["data", "synthetic", str(data), "--people", str(people), "--seed", str(seed), "--quirks"],
        ["data", "check", str(data)],
        ["eda", str(data), "--out", str(folder / "eda")],
        ["data", "split", str(data), "--out", str(folder / "split.json"), "--kind", "holdout", "--val", "0.2"],
        ["train", "demo", f"data.root={data}", f"split.file={folder / 'split.json'}", "--runs", str(folder)],
        ["predict", str(folder / "demo"), str(data), "--out", str(folder / "submission.csv")],
        ["score", str(data / "eval_gt.csv"), str(folder / "submission.csv")],
    ]
    root = ctx.find_root().command  # the whole ``maskcls`` command this demo runs in
    for args in steps:
        console.rule(f"[bold]$ maskcls {' '.join(args)}")
        root.main(args=args, prog_name="maskcls", standalone_mode=False)
    console.rule("[bold]done")
    console.print(f"demo folder: {folder}\n  data (synthetic, procedurally drawn): {data}\n"
                  f"  EDA report: {folder / 'eda' / 'report.html'}\n  split file: {folder / 'split.json'}\n"
                  f"  run folder: {folder / 'demo'} (report.html, metrics.csv, plots/)\n"
                  f"  submission: {folder / 'submission.csv'}")
