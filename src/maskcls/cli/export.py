"""``maskcls export``: a run's model as one ONNX graph over uint8 photos, checked against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def export(
    run: Path = typer.Argument(..., help="Run folder (config.yaml + best.pt), e.g. a fold of a k-fold run."),
    fmt: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="File to write (default RUN/export/model.onnx)."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset version."),
    force: bool = typer.Option(False, "--force", help="Replace an existing export."),
    raw_outputs: bool = typer.Option(False, "--raw-outputs", help="Also output the head's raw outputs after probs."),
) -> None:
    """Export for ONNX Runtime: uint8 [B, H, W, 3] photos in (dynamic batch), 18-class probabilities out."""
    from maskcls.cli.render import console
    from maskcls.errors import MaskclsError
    from maskcls.inference.export import export_onnx
    from maskcls.inference.parity import measure_parity

    if fmt != "onnx":
        raise MaskclsError(f"--format {fmt}: unsupported (supported: onnx)")
    path = export_onnx(run, out, opset, force=force, raw_outputs=raw_outputs)
    console.print(f"exported: {path} ({path.stat().st_size / 1e6:.1f} MB) and {path.with_suffix('.json').name}",
                  highlight=False)
    difference, batch = measure_parity(run, path)
    console.print(f"parity: max |p_onnx - p_torch| = {difference:.2e} on {batch}", highlight=False)
