"""The service's JSON bodies as pydantic models, so the OpenAPI schema at ``/openapi.json`` is exact."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from maskcls.labels import NUM_CLASSES, AgeBands, class_name, decode, task_names

Probabilities18 = Annotated[list[float], Field(min_length=NUM_CLASSES, max_length=NUM_CLASSES)]


class Box(BaseModel):
    """A face box in pixels of the upright photo."""

    x0: float
    y0: float
    x1: float
    y1: float


class TaskPrediction(BaseModel):
    """One task's answer: its code and name, that value's (marginal) probability and every value's."""

    code: int = Field(ge=0, description="the value in the 18-class answer, as the competition codes it (mask: 0 wear, "
                                        "1 incorrect, 2 not wear; gender: 0 male, 1 female; age: band 0, 1, 2)")
    name: str
    probability: float = Field(ge=0.0, le=1.0)
    probabilities: list[float] = Field(description="probability of each value, in code order")


class FaceOut(BaseModel):
    """One detected face and the model's prediction for it."""

    box: Box
    score: float = Field(description="the face detector's confidence")
    label: int = Field(ge=0, lt=NUM_CLASSES, description="18-class label: mask * 6 + gender * 3 + age band")
    class_name: str = Field(description="e.g. wear/female/30-59")
    mask: TaskPrediction
    gender: TaskPrediction
    age: TaskPrediction
    probabilities: Probabilities18 = Field(description="probability of each of the 18 classes")
    input: Literal["face", "photo"] = Field(
        description="what the model saw: this face's crop, or the whole photo (a run trained on whole photos)")


class ClassifyResponse(BaseModel):
    """Every face found in a photo (an empty list when there is none)."""

    model: str
    width: int = Field(description="upright photo width in pixels")
    height: int = Field(description="upright photo height in pixels")
    format: Literal["JPEG", "PNG", "WEBP"]
    faces: list[FaceOut]
    milliseconds: float = Field(description="time spent decoding, detecting and classifying")


class ClassInfo(BaseModel):
    """One of the 18 classes."""

    index: int
    name: str
    mask: str
    gender: str
    age: str


class ModelInfo(BaseModel):
    """The loaded model."""

    name: str = Field(description="the run's name")
    path: str
    engine: Literal["torch", "onnx"]
    members: int = Field(description="models averaged (the folds of a k-fold run), else 1")
    backbone: str
    head: str
    input_size: list[int] = Field(description="network input [height, width]")
    crop: Literal["none", "center", "face"]
    face_margin: float
    detector: str
    age_thresholds: list[int]
    age_bands: list[str]
    classes: list[ClassInfo]
    metrics: dict[str, float] = Field(description="validation figures of the run (best epoch or out-of-fold)")
    max_upload_bytes: int


class Health(BaseModel):
    """The service is up with its model loaded."""

    status: Literal["ok"]
    model: str


class ErrorResponse(BaseModel):
    """An error, explained in one line."""

    detail: str


def task_prediction(task: str, code: int, probabilities, bands: AgeBands) -> TaskPrediction:
    """A task's :class:`TaskPrediction`: the value ``code`` with the task's marginal probabilities."""
    return TaskPrediction(code=code, name=task_names(task, bands)[code], probability=float(probabilities[code]),
                          probabilities=[float(p) for p in probabilities])


def face_out(result, bands: AgeBands) -> FaceOut:
    """The JSON of a :class:`maskcls.serve.classify.FaceResult`."""
    from maskcls.inference.ensemble import task_marginals

    # Like `maskcls predict`: the tasks' values are those of the 18-class answer (the competition's), each with
    # its marginal probability; the most probable class need not combine the most probable value of every task.
    marginals = task_marginals(result.probs)
    codes = dict(zip(("mask", "gender", "age"), decode(result.label)))
    return FaceOut(box=Box(**dict(zip(("x0", "y0", "x1", "y1"), result.box))), score=result.score,
                   label=result.label, class_name=class_name(result.label, bands),
                   **{task: task_prediction(task, codes[task], marginals[task], bands) for task in codes},
                   probabilities=[float(p) for p in result.probs], input=result.input)


def class_infos(bands: AgeBands) -> list[ClassInfo]:
    """The 18 classes in index order."""
    infos = []
    for index in range(NUM_CLASSES):
        mask, gender, age = decode(index)
        infos.append(ClassInfo(index=index, name=class_name(index, bands), mask=task_names("mask", bands)[mask],
                               gender=task_names("gender", bands)[gender], age=task_names("age", bands)[age]))
    return infos
