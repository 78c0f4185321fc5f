"""The HTTP side of ``maskcls relabel``: a page to review people and a JSON API over
:class:`maskcls.serve.relabel.RelabelData`.

Routes: ``/`` (the page: photos side by side, keyboard shortcuts), ``GET /api/info``, ``GET /api/people``
(``order=folder|disagreement``, ``limit``, ``id``), ``POST /api/corrections`` (``{"id", "field", "value"}`` →
one row of the relabel CSV) and ``GET /photos/<path inside ROOT>``. Photo paths that are absolute or climb with
``..`` (also percent-encoded) answer 400; files outside ROOT (a symlink leading out) or that are no photo, 404.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

from fastapi import FastAPI, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, model_validator

from maskcls.serve.app import page_app
from maskcls.serve.relabel import BadCorrection, NotFound, PathRefused, RelabelData, safe_photo

STATUS = {PathRefused: 400, NotFound: 404, BadCorrection: 422}


class CorrectionIn(BaseModel):
    """One correction to save."""

    id: str = Field(min_length=1, description="the person id as in train.csv")
    field: Literal["gender", "age", "swap_incorrect_normal", "drop"]
    value: bool | int | float | str = Field(description="male/female, an age, or true/false")
    note: str = Field("relabel tool", max_length=200)

    @model_validator(mode="after")
    def _whole_age(self) -> "CorrectionIn":
        if isinstance(self.value, float):
            if self.field != "age" or not self.value.is_integer():
                raise ValueError(f"{self.field} {self.value}: expected "
                                 + ("a whole number of years" if self.field == "age" else "male/female or true/false"))
            self.value = int(self.value)
        return self


class CorrectionOut(BaseModel):
    """The row saved in the corrections CSV."""

    id: str
    field: str
    value: str
    csv: str


def create_relabel_app(root: str | Path, corrections_csv: str | Path, oof_run: str | Path | None = None,
                       relabel: Sequence[str | Path] = ("default",)) -> FastAPI:
    """The app of ``maskcls relabel``, with the people of ``root`` already read.

    Args:
        root: competition root (holding ``train/``) or its train folder; photos are served from inside it only.
        corrections_csv: where corrections are saved (the relabel CSV format).
        oof_run: a k-fold run whose out-of-fold predictions rank the most disagreeing people.
        relabel: corrections files applied before ``corrections_csv``.

    Raises:
        MaskclsError: as :class:`RelabelData`.
    """
    data = RelabelData(root, corrections_csv, oof_run, relabel)
    root_path = Path(root)
    app = page_app("maskcls relabel", "Review people's labels and save corrections to a relabel CSV.",
                   "relabel.html", STATUS)
    app.state.data = data

    @app.get("/api/info", summary="What the tool works on")
    def info() -> dict:
        people = data.dataset.people()
        return {"root": str(root_path), "csv": str(data.csv), "people": len(people),
                "photos": len(data.dataset.records), "oof_run": data.oof.run if data.oof else None,
                "age_bands": list(data.bands.names())}

    @app.get("/api/people", summary="People with their photos, labels, corrections and the model's disagreement")
    def people(order: Literal["folder", "disagreement"] = "folder", limit: int | None = Query(None, ge=1),
               id: str | None = None) -> list[dict]:
        return data.people(order, limit, id)

    @app.post("/api/corrections", response_model=CorrectionOut, summary="Save one correction to the CSV")
    def correct(correction: CorrectionIn) -> CorrectionOut:
        saved = data.save(correction.id, correction.field, correction.value, correction.note)
        return CorrectionOut(id=saved.id, field=saved.field, value=saved.value, csv=str(data.csv))

    @app.get("/photos/{path:path}", summary="A photo inside ROOT")
    def photo(path: str) -> FileResponse:
        return FileResponse(safe_photo(root_path, path))

    return app
