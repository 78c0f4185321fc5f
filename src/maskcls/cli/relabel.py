"""``maskcls relabel``: a page to review people's labels, saving corrections to a relabel CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from maskcls.cli.options import NoRelabelOpt, RelabelOpt, relabel_files


def relabel(
    root: Path = typer.Argument(..., help="Competition root (holding train/) or its train folder."),
    out: Path = typer.Option(Path("corrections.csv"), "--out", "-o",
                             help="Corrections CSV (id,field,value,note): created, or extended if it exists."),
    oof: Optional[Path] = typer.Option(None, "--oof",
                                       help="k-fold run whose oof.csv ranks the most disagreeing people."),
    relabel: Optional[list[Path]] = RelabelOpt,
    no_relabel: bool = NoRelabelOpt,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8001, "--port", min=1, max=65535),
) -> None:
    """Serve a page showing each person's photos side by side with the current labels; keyboard shortcuts save
    gender, age, incorrect_mask/normal swap and drop corrections to --out (photos are never touched)."""
    from maskcls.cli.render import console
    from maskcls.cli.serve import listen, run_server
    from maskcls.errors import MaskclsError
    from maskcls.serve.relabel_app import create_relabel_app

    if out.is_dir():
        raise MaskclsError(f"{out}: is a folder; --out takes the corrections CSV to create or extend")
    app = create_relabel_app(root, out, oof, relabel_files(relabel, no_relabel))
    sock = listen(host, port)  # a busy port fails here, before anything says it started
    data = app.state.data
    kept = f" (extending its {len(data.corrections()) - len(data.base)} correction(s))" if out.exists() else ""
    console.print(f"{len(data.dataset.people()):,} people in {root}; corrections go to {out}{kept}; "
                  f"page http://{host}:{port}/", highlight=False, soft_wrap=True)
    run_server(app, sock)
