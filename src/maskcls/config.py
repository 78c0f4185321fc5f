"""Typed configuration: pydantic models loaded from YAML, with ``key=value`` overrides from the command line.

``load_config("preset.yaml", ["data.age_thresholds=[30,58]", "split.seed=7"])`` reads the file, applies each
override to the dotted key (values are parsed as YAML, so numbers, lists and ``null`` work), and validates the
result. Unknown keys are errors, so a typo never silently does nothing. :func:`dump_config` writes the fully
resolved config that a run folder keeps.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Literal, Sequence, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from maskcls import presets as _presets
from maskcls.errors import MaskclsError
from maskcls.faces.detect import DETECTORS, FACE_FRAMES, MIN_SIDE, PICK_POLICIES, RETRY_SCALE, check_retry
from maskcls.faces.segment import BACKGROUNDS
from maskcls.labels import AgeBands, Mask, TrainingAgePolicy
from maskcls.vision.preprocess import CROPS

#: Mask states as ``data.train_mask_states`` names them: the names of :class:`~maskcls.labels.Mask`, lower case.
MaskState = Literal["wear", "incorrect", "not_wear"]


class ConfigError(MaskclsError):
    """An invalid config file or override; the message is one line naming the key or file."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class SourceConfig(_Strict):
    """One training source of ``data.sources`` (see :mod:`maskcls.data.sources`).

    Attributes:
        kind: ``competition`` (a competition-layout root: every label; its people are split into training and
            validation), ``crops`` (a folder of labelled face crops, ``labels.csv`` with ``file,mask`` and
            optionally ``gender``, ``age``, as ``maskcls data import-boxes`` writes and ``realmask`` ships) or
            ``faces`` (a UTKFace-style folder: age and gender, no mask label).
        root: the folder.
        name: how the run folder names it (default: the folder's name).
        weight: this source's share of each epoch's draws, relative to the other sources' weights (1 for a
            source without one, such as ``data.root``); ``null`` on every source shuffles all photos alike.
        limit: use at most this many photos (people for ``competition``), a seeded random subset.
        holdout: the development hold-out to leave out (:mod:`maskcls.data.devsplit`): ``auto`` recognises
            the shared ``realmask``, ``facemask`` crops and UTKFace photos by their files; ``none`` keeps all.
        exclude: competition roots made by ``build-public`` whose people (``train/sources.csv`` and
            ``eval_sources.csv``) a ``faces`` source leaves out, so no validation or eval person is trained on;
            the run's own competition sources are always left out.
        labels: for ``crops`` only, the labels file when it is not ``root/labels.csv`` (its ``file`` column still
            names files inside ``root``): a self-training round reads its ``pseudo_labels.csv`` this way.
    """

    kind: Literal["competition", "crops", "faces"]
    root: Path
    name: str | None = None
    weight: float | None = Field(None, gt=0.0)
    limit: int | None = Field(None, ge=1)
    holdout: Literal["auto", "none", "utkface", "facemask", "realmask"] = "auto"
    exclude: list[Path] = Field(default_factory=list)
    labels: Path | None = None

    @model_validator(mode="after")
    def _labels_of_crops(self) -> "SourceConfig":
        if self.labels is not None and self.kind != "crops":
            raise ValueError(f"data.sources {self.label}: labels is for a crops source (this one is {self.kind})")
        return self

    @property
    def label(self) -> str:
        return self.name or self.root.name or str(self.root)


class DataConfig(_Strict):
    """Where the data is and how labels are read.

    Attributes:
        root: competition root (holding ``train/`` and optionally ``eval/``); the same as a first
            ``competition`` entry of ``sources``.
        sources: further training sources (:class:`SourceConfig`), e.g. real-mask crops and face folders with
            partial labels; validation stays on the competition sources' people.
        age_thresholds: evaluation age bands (lower bounds of the middle and oldest band).
        train_old_threshold: training-only lower bound of the oldest band (e.g. 58); evaluation is unchanged.
        train_drop_ages: inclusive age range left out of training (e.g. ``[57, 59]``); evaluation is unchanged.
        train_mask_states: train only on the competition photos of these mask states (``wear``, ``incorrect``,
            ``not_wear``), e.g. ``[wear, not_wear]`` for the age and gender member of a task-level ensemble;
            validation keeps every photo, so scores stay comparable; ``null`` trains on all.
        relabel: corrections files applied in order; ``default`` is the shipped list of documented fixes,
            an empty list turns relabeling off.
    """

    root: Path | None = None
    sources: list[SourceConfig] = Field(default_factory=list)
    age_thresholds: tuple[int, int] = (30, 60)
    train_old_threshold: int | None = None
    train_drop_ages: tuple[int, int] | None = None
    train_mask_states: list[MaskState] | None = None
    relabel: list[str] = Field(default_factory=lambda: ["default"])

    @model_validator(mode="after")
    def _check_bands(self) -> "DataConfig":
        try:
            self.age_policy()
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        labels = [s.label for s in self.all_sources()]
        if len(set(labels)) != len(labels):
            raise ValueError(f"data.sources: two sources share a name ({', '.join(labels)}); set name: on one")
        return self

    @field_validator("train_mask_states")
    @classmethod
    def _some_states(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("an empty list leaves out every competition photo (null trains on all)")
        return value

    def all_sources(self) -> list[SourceConfig]:
        """``root`` (as a competition source) followed by ``sources``."""
        first = [SourceConfig(kind="competition", root=self.root)] if self.root is not None else []
        return first + list(self.sources)

    def bands(self) -> AgeBands:
        """The evaluation age bands."""
        return AgeBands(tuple(self.age_thresholds))

    def age_policy(self) -> TrainingAgePolicy:
        """The training-only age policy built on the evaluation bands."""
        drop = tuple(self.train_drop_ages) if self.train_drop_ages else None
        return TrainingAgePolicy(self.bands(), self.train_old_threshold, drop)

    def train_masks(self) -> set[int] | None:
        """The mask codes of ``train_mask_states`` (``None``: every state trains)."""
        if self.train_mask_states is None:
            return None
        return {int(Mask[state.upper()]) for state in self.train_mask_states}


class SplitConfig(_Strict):
    """How people are split into training and validation.

    Attributes:
        kind: ``holdout`` (one validation fold) or ``kfold``.
        n_splits: folds of a k-fold split.
        val_fraction: share of people in validation for a hold-out split.
        seed: split seed.
        file: an existing split file to reuse instead of making one.
    """

    kind: Literal["holdout", "kfold"] = "holdout"
    n_splits: int = Field(5, ge=2)
    val_fraction: float = Field(0.2, gt=0.0, le=0.5)
    seed: int = 42
    file: Path | None = None

    @field_validator("file", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value in ("", "null") else value


class ModelConfig(_Strict):
    """The network: a backbone from the timm factory and a head.

    Attributes:
        backbone: a timm model name (offline weights ship for ``efficientnet_lite0..2``,
            ``tf_efficientnet_lite0..2`` and ``mobilenetv2_100``).
        pretrained: ``true`` for the bundled offline weights (or timm's hub when online), ``false`` for random
            initialisation, or a path to a checkpoint (``.pt``/``.pth``/``.safetensors``) for any timm model.
        head: ``class18`` (one 18-way layer), ``multitask`` (mask 3, gender 2, age 3), ``multitask_regression``
            (mask, gender, and age as a regressed number turned into bands by the thresholds) or
            ``multitask_years`` (mask, gender, and a distribution over whole years of age whose sums per band are
            the age band; trained on the years spread by ``train.age_sigma`` and on the bands).
        task_weights: loss weight of each task of a multi-task head.
        dropout: dropout before the head.
        freeze: freeze the first N backbone stages, ``backbone`` for everything but the head, or ``null``.
        img_size: input side in pixels; ``null`` takes the backbone's pretrained config.
        arcface: ArcFace for the ``class18`` or ``multitask`` head: every class layer becomes a cosine layer
            (``arcface_s · cos θ`` between the normalised features and class weights, the logits at inference),
            and training adds the angular margin ``arcface_m`` to the target class, ``s·cos(θ + m)``, weighted by
            the target's mass for mixed (CutMix/MixUp) targets (:mod:`maskcls.models.cosine`).
        arcface_s: the cosine logits' scale ``s``.
        arcface_m: the additive angular margin ``m`` in radians, in ``[0, π/2)``.
        sharing: ``hard`` (one backbone for all tasks) or ``soft`` (``multitask`` head only): the stem and first
            ``shared_stages`` stages are shared, the later stages, head convolution and pooling are copied into a
            tower per task from the same weights, and each task's layer sees its own tower
            (:mod:`maskcls.models.towers`).
        shared_stages: with ``soft``, the stages kept shared, counted as ``freeze`` counts them.
        tower_l2: with ``soft``, weight of the training loss term ``Σ_params ||p_i − p_j||²`` averaged over the
            pairs of towers, which pulls the towers' corresponding parameters together (0: unlinked towers).
        side_trunk: a face-pretrained second trunk (``dlib_age`` or ``dlib_gender``) run on the same input,
            re-normalised and shrunk inside the model, its features joining the backbone's before the head
            (:mod:`maskcls.models.side`); ``null`` for none. Not with ``sharing=soft``.
        side_trunk_trainable: fine-tune the side trunk too (default: frozen, run without gradients).
    """

    backbone: str = "efficientnet_lite0"
    pretrained: bool | str = True
    head: Literal["class18", "multitask", "multitask_regression", "multitask_years"] = "multitask"
    task_weights: dict[str, float] = Field(default_factory=lambda: {"mask": 1.0, "gender": 1.0, "age": 1.0})
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    freeze: int | Literal["backbone"] | None = None
    img_size: int | None = Field(None, ge=16)
    arcface: bool = False
    arcface_s: float = Field(30.0, gt=0.0)
    arcface_m: float = Field(0.3, ge=0.0, lt=math.pi / 2)
    sharing: Literal["hard", "soft"] = "hard"
    shared_stages: int = Field(4, ge=0)
    tower_l2: float = Field(0.0, ge=0.0)
    side_trunk: Literal["dlib_age", "dlib_gender"] | None = None
    side_trunk_trainable: bool = False

    @field_validator("backbone")
    @classmethod
    def _known_backbone(cls, value: str) -> str:
        from maskcls.models.backbones import check_backbone_name

        try:
            check_backbone_name(value)
        except MaskclsError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("task_weights")
    @classmethod
    def _known_tasks(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - {"mask", "gender", "age"})
        if unknown:
            raise ValueError(f"unknown task(s) {', '.join(unknown)} (tasks: mask, gender, age)")
        if any(weight < 0 for weight in value.values()):
            raise ValueError("task weights must not be negative")
        return value

    @field_validator("freeze")
    @classmethod
    def _stages(cls, value: int | str | None) -> int | str | None:
        if isinstance(value, int) and value < 0:
            raise ValueError(f"freeze {value}: expected a number of stages >= 0, backbone or null")
        return value

    @model_validator(mode="after")
    def _head_options(self) -> "ModelConfig":
        if self.arcface and self.head in ("multitask_regression", "multitask_years"):
            raise ValueError(f"model.arcface: needs the class18 or multitask head ({self.head} reads the age as "
                             "years)")
        if self.sharing == "soft" and self.head != "multitask":
            raise ValueError(f"model.sharing=soft: needs the multitask head (got {self.head})")
        if self.side_trunk is not None and self.sharing == "soft":
            raise ValueError("model.side_trunk: not with model.sharing=soft (each task's tower has its own features)")
        return self


class AugConfig(_Strict):
    """Augmentation.

    Attributes:
        preset: ``none``, ``base`` (flip + small shift/scale), ``center_brightness`` (the winners' centre crop +
            brightness), ``color_jitter``, ``random_erasing``, ``randaugment``, ``autoaugment`` (ImageNet policy),
            ``trivialaugment`` (TrivialAugmentWide; these three on ``base``) or ``wild`` (crowd and camera
            photos: loose crop, rotation, colour, low resolution, blur, JPEG).
        cutmix: probability of CutMix per batch; ``cutmix_vertical`` pastes the left/right half instead of a box.
        mixup: probability of MixUp per batch.
        batched: augment whole uint8 batches in the training process instead of photo by photo in the loader
            (``wild`` only; :mod:`maskcls.vision.batch_augment`), leaving the loader only the cache reads.
        occlude_worn: probability that a training photo of a worn mask gets a plain occluder painted over its
            lower face first (:mod:`maskcls.vision.occlusion`), so gender and age are read from what any mask
            leaves visible; needs ``input.crop=face`` with ``input.face_frame=landmarks``, where it is placed.
        surround: probability that a training photo is shrunk into a made-up surround of its own size (the cut's
            edge mirrored and blurred, a colour field or a flat colour, the seam feathered;
            :mod:`maskcls.vision.surround`), so what lies past a tight photo's edge stops moving gender and age.
    """

    preset: Literal[
        "none", "base", "center_brightness", "color_jitter", "random_erasing", "randaugment", "autoaugment",
        "trivialaugment", "wild"
    ] = "base"
    cutmix: float = Field(0.0, ge=0.0, le=1.0)
    cutmix_alpha: float = Field(1.0, gt=0.0)
    cutmix_vertical: bool = False
    mixup: float = Field(0.0, ge=0.0, le=1.0)
    mixup_alpha: float = Field(0.2, gt=0.0)
    batched: bool = False
    occlude_worn: float = Field(0.0, ge=0.0, le=1.0)
    surround: float = Field(0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _batched_preset(self) -> "AugConfig":
        if self.batched and self.preset != "wild":
            raise ValueError(f"aug.batched: only the wild preset has a batched form (preset is {self.preset})")
        return self


class TrainConfig(_Strict):
    """The training loop.

    Attributes:
        loss: a loss spec from the registry: ``ce``, ``focal``, ``f1``, ``smooth_ce`` or a weighted sum such as
            ``0.6*focal+0.4*f1``.
        sampler: ``weighted`` draws batches with WeightedRandomSampler by class; ``none`` shuffles.
        oversample: repeat the photos of these 18-class labels this many times per epoch, e.g. ``{8: 3}``.
        undersample_masks: each epoch, every person of a competition source trains on only this many (1-4) of
            their five ``mask*`` photos, drawn anew each epoch from the seed and the epoch, plus all their other
            photos; applied before ``oversample`` and the sampler; ``null`` trains on all five.
        features: the CPU fast path: freeze the backbone, compute features once, train the head on them.
        unfreeze_epochs: after a feature-cached head, fine-tune the last ``unfreeze_stages`` stages this long.
        finetune_bn: during that fine-tune, ``frozen`` keeps BatchNorm statistics as they were when the head's
            features were computed (the head then sees the inputs it was trained on); ``train`` updates them.
        monitor: what chooses ``best.pt`` (and early stopping): validation ``macro_f1`` or ``accuracy``.
        train_on_val_epochs: the last N epochs that train on images also train on the validation people (the
            score then stops being a held-out estimate and metrics.csv says so in ``val_in_train``).
        batch_size: the global batch: under ``--nproc N`` each process takes ``batch_size / N`` of it.
        amp_dtype: with ``amp`` on CUDA, ``auto`` (bfloat16 where the GPU has it, else float16), ``bf16`` or
            ``fp16`` (with a gradient scaler); the CPU always trains in float32.
        sync_bn: under ``--nproc N`` on GPUs, BatchNorm statistics over the global batch (SyncBatchNorm); on the
            CPU each process keeps its own (torch has no CPU SyncBatchNorm) and a note says so.
        distill_weight: weight of the distillation term: the dlib face nets' gender and age band on each
            person's ``normal`` photo as soft targets for that person's masked photos (0: off; see
            :mod:`maskcls.engine.distill`).
        distill_temperature: the distillation's softmax temperature (teacher and student alike).
        age_sigma: train the age band on soft targets: each photo's share of each band under a normal spread of
            this many years about its labelled age (:meth:`maskcls.labels.AgeBands.spread`), so ages near a
            threshold train toward both bands; ``null``: the band alone. Apparent-age labels such as UTKFace's
            are off by several years; validation is always scored on the plain band.
        age_years_weight: with ``model.head=multitask_years``, the weight of the years' loss relative to the age
            band's (both scaled by the age task's weight).
    """

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(32, ge=1)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(1e-4, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    scheduler: Literal["cosine", "step", "onecycle", "none"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0.0)
    step_size: int = Field(3, ge=1)
    gamma: float = Field(0.5, gt=0.0)
    grad_accum: int = Field(1, ge=1)
    grad_clip: float | None = Field(None, gt=0.0)
    amp: bool = True
    amp_dtype: Literal["auto", "bf16", "fp16"] = "auto"
    sync_bn: bool = False
    channels_last: bool = True
    compile: bool = False
    ema: float | None = Field(None, gt=0.0, lt=1.0)
    early_stop: int | None = Field(None, ge=1)
    monitor: Literal["macro_f1", "accuracy"] = "macro_f1"
    loss: str = "ce"
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    focal_gamma: float = Field(2.0, ge=0.0)
    class_weights: bool = False
    sampler: Literal["none", "weighted"] = "none"
    oversample: dict[int, int] = Field(default_factory=dict)
    undersample_masks: int | None = None
    features: bool = False
    unfreeze_epochs: int = Field(0, ge=0)
    unfreeze_stages: int = Field(2, ge=1)
    unfreeze_lr: float = Field(1e-4, gt=0.0)
    finetune_bn: Literal["frozen", "train"] = "frozen"
    train_on_val_epochs: int = Field(0, ge=0)
    deterministic: bool = False
    workers: int = Field(0, ge=0)
    device: str = "auto"
    loggers: list[Literal["tensorboard", "mlflow", "wandb"]] = Field(default_factory=lambda: ["tensorboard"])
    distill_weight: float = Field(0.0, ge=0.0)
    distill_temperature: float = Field(2.0, gt=0.0)
    age_sigma: float | None = Field(None, gt=0.0)
    age_years_weight: float = Field(1.0, ge=0.0)

    @field_validator("loss")
    @classmethod
    def _known_loss(cls, value: str) -> str:
        from maskcls.losses import parse_spec

        parse_spec(value)  # ValueError naming the bad term or name
        return value

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value.strip()):
            raise ValueError(f"unknown device {value!r} (auto, cpu, cuda, cuda:N or mps)")
        return value.strip()

    @field_validator("oversample")
    @classmethod
    def _classes(cls, value: dict[int, int]) -> dict[int, int]:
        for label, times in value.items():
            if not 0 <= label < 18 or times < 1:
                raise ValueError(f"oversample {{{label}: {times}}}: expected an 18-class label 0-17 and a repeat >= 1")
        return value

    @field_validator("undersample_masks")
    @classmethod
    def _mask_photos(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 4:
            raise ValueError(f"{value}: expected 1-4 (of a person's 5 mask photos kept each epoch) or null")
        return value


class InputConfig(_Strict):
    """How a photo becomes the model's input, for training, prediction, ONNX and the service alike
    (:func:`maskcls.vision.preprocess.preprocess`; size and interpolation come from the backbone).

    Attributes:
        crop: how each photo is cut before the resize: ``none`` (the whole photo), ``center`` (the largest centred
            region of the input's aspect ratio) or ``face`` (a face detected in the photo, with context; photos
            without a face are centre-cropped and listed in the run's ``face_fallbacks.txt``).
        face_margin: for ``crop=face``, context around the face box as a fraction of its size on each side.
        face_detector: for ``crop=face``, the detector: ``retinaface``, ``mtcnn``, ``haar`` or ``retinaface+mtcnn`` (MTCNN only where RetinaFace finds no face).
        face_pick: for ``crop=face``, which of several faces: ``largest`` or ``central`` (nearest the centre).
        face_frame: for ``crop=face``, what ``face_margin`` grows: the detector's ``box``, or the square the five
            ``landmarks`` place (:func:`maskcls.faces.detect.landmark_square`; the box for a detector without
            landmarks). RetinaFace clips its box at the photo's edge, so on tight chips such as UTKFace's the box
            frames the face tighter than in a wider photo; the landmark square frames both alike.
        face_fallback: for ``crop=face``, a photo without a face at the detector's threshold is cut around its best
            face scoring at least this (``null``: centre-cropped). RetinaFace scores many masked faces 0.3–0.9:
            at 0.3 it finds 89 % of the suite's re-framed faces wearing a mask over the nose against 69 % without
            (all in the right place), 98 % of the held-out realmask photos against 89 % (``face_fallback.py``,
            with ``face_min_side`` 160).
        face_min_side: for ``crop=face`` (and the service's detector), a photo whose shorter side is under this
            many pixels is detected on a copy enlarged to it (0: never): RetinaFace runs at the photo's own size and
            misses a face that fills a small crowd crop (:data:`maskcls.faces.detect.MIN_SIDE`). A run folder
            trained before the setting existed loads with 0, as it was trained.
        face_retry: for ``crop=face`` (and the service's detector), a photo in which no face was found (not even
            at ``face_fallback``) is detected once more on a copy this many times as large (0: never; else > 1):
            RetinaFace finds most masked faces it misses at a photo's own size on a copy 1.5 times as large
            (:data:`maskcls.faces.detect.RETRY_SCALE`). Only those photos change. A run folder trained before the
            setting existed loads with 0, as it was trained.
        background: ``keep`` the photo's background, ``remove`` it (a flat grey) or ``blur`` it; the person is
            segmented in the whole photo before any crop (needs the optional mediapipe extra, see
            :mod:`maskcls.faces.segment`).
    """

    crop: Literal[CROPS] = "none"
    face_margin: float = Field(0.4, ge=0.0)
    face_detector: str = "retinaface"
    face_pick: Literal[PICK_POLICIES] = "largest"
    face_frame: Literal[FACE_FRAMES] = "box"
    face_fallback: float | None = Field(0.3, ge=0.0, le=1.0)
    face_min_side: int = Field(MIN_SIDE, ge=0)
    face_retry: float = Field(RETRY_SCALE, ge=0.0)
    background: Literal[BACKGROUNDS] = "keep"

    @field_validator("face_detector")
    @classmethod
    def _known_detector(cls, value: str) -> str:
        if value not in DETECTORS:
            raise ValueError(f"unknown face detector {value!r} (choices: {', '.join(DETECTORS)})")
        return value

    @field_validator("face_retry")
    @classmethod
    def _retry_enlarges(cls, value: float) -> float:
        return check_retry(value)


class CacheConfig(_Strict):
    """The preprocessed-image cache (:mod:`maskcls.vision.cache`), shared by training and prediction.

    Attributes:
        enabled: keep the cache on disk (memory-mapped, reused by later runs); ``false`` builds it in memory.
        dir: its folder; ``null`` is ``$MASKCLS_CACHE`` or ``~/.cache/maskcls``.
    """

    enabled: bool = True
    dir: Path | None = None


class TaskThresholds(_Strict):
    """Per task, the predicted probability a pseudo label must be above to be kept (self-training).

    Attributes:
        mask: for the mask status.
        gender: for the gender.
        age: for the age band.
    """

    mask: float = Field(0.9, ge=0.0, lt=1.0)
    gender: float = Field(0.9, ge=0.0, lt=1.0)
    age: float = Field(0.8, ge=0.0, lt=1.0)


class SelfTrainingConfig(_Strict):
    """Self-training on photos without labels (:mod:`maskcls.engine.self_training`); off while ``folder`` is null.

    Round 0 is the normal run; round ``r`` then trains a fresh model in ``RUN/round<r>/`` on the labelled data plus
    ``folder``'s photos as round ``r-1``'s best model labels them, each task kept only where it is confident.

    Attributes:
        folder: the photos without labels (the folder's own files, not its subfolders), e.g. a competition's
            ``eval/images``; ``null`` turns self-training off.
        rounds: how many times to pseudo-label and retrain after round 0 (at least 1).
        weight: the pseudo-labelled photos' share of each epoch's draws against the other sources, as a
            ``data.sources`` weight (1 where a source has none); ``null`` draws them like every other photo.
        thresholds: per task (``mask``, ``gender``, ``age``), the probability a predicted label must be above to
            be kept (:class:`TaskThresholds`); a photo keeps the tasks that pass, and one that keeps none is not
            trained on.
        limit: pseudo-label at most this many of the folder's photos, a random subset seeded by ``seed`` (the
            same photos every round).
    """

    folder: Path | None = None
    rounds: int = Field(1, ge=1)
    weight: float | None = Field(None, gt=0.0)
    thresholds: TaskThresholds = Field(default_factory=TaskThresholds)
    limit: int | None = Field(None, ge=1)

    @field_validator("folder", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value in ("", "null") else value


#: Keys of the ``train`` section that moved to their own sections: old name → (section, key).
MOVED_TRAIN_KEYS = {
    **{key: ("input", key) for key in ("crop", "face_margin", "face_detector", "face_pick", "background")},
    "cache": ("cache", "enabled"),
    "cache_dir": ("cache", "dir"),
}


class Config(_Strict):
    """The whole configuration of a maskcls job."""

    name: str = "run"
    seed: int = 42
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    aug: AugConfig = Field(default_factory=AugConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    input: InputConfig = Field(default_factory=InputConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    self_training: SelfTrainingConfig = Field(default_factory=SelfTrainingConfig)

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        """Configs written before ``input`` and ``cache`` were sections (run folders, YAML files, ``train.crop=…``
        overrides) keep loading: each old ``train`` key is moved to its section (it wins over the new key)."""
        if not isinstance(data, dict) or not isinstance(data.get("train"), dict):
            return data
        train = dict(data["train"])
        moved = {key: train.pop(key) for key in list(train) if key in MOVED_TRAIN_KEYS}
        if not moved:
            return data
        data = {**data, "train": train}
        for old, value in moved.items():
            section, key = MOVED_TRAIN_KEYS[old]
            target = data.get(section)
            if isinstance(target, BaseModel):
                target = target.model_dump()
            data[section] = {**(target if isinstance(target, dict) else {}), key: value}
        return data

    @model_validator(mode="after")
    def _years_summed_into_the_evaluation_bands(self) -> "Config":
        if self.model.head == "multitask_years" and self.data.train_old_threshold is not None:
            raise ValueError("model.head=multitask_years: sums its years into the evaluation bands, so "
                             "data.train_old_threshold has no meaning for it; set it to null")
        return self

    @model_validator(mode="after")
    def _occluder_placed_by_the_face_cut(self) -> "Config":
        if self.aug.occlude_worn and (self.input.crop != "face" or self.input.face_frame != "landmarks"):
            raise ValueError("aug.occlude_worn: the occluder is placed by the face cut; it needs input.crop=face and "
                             f"input.face_frame=landmarks (got crop={self.input.crop}, "
                             f"face_frame={self.input.face_frame}; aug.occlude_worn=0 turns it off)")
        return self

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"\w[\w.+-]{0,99}", value):  # letters of any script, digits, _ . + -
            raise ValueError(f"run name {value!r}: expected a plain folder name (letters, digits, _ . + -; no / or "
                             "leading dot), made under --runs")
        return value


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {key}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """Split ``key=value`` and parse the value as YAML (``3`` → int, ``[30,58]`` → list, ``null`` → None)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is not key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def resolve_preset(name_or_path: str | Path) -> Path:
    """A YAML path as given, or a preset shipped with maskcls by name (``baseline`` → presets/baseline.yaml)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.exists():
        raise ConfigError(f"{path}: not a config file (a folder or special file; a run's config is RUN/config.yaml)")
    preset = _presets.FOLDER / f"{name_or_path}.yaml"
    if preset.is_file():
        return preset
    raise ConfigError(f"{name_or_path}: no such config file or preset (presets: {', '.join(_presets.names()) or 'none'})")


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file safely.

    Raises:
        ConfigError: naming the file if it is missing, unreadable, not UTF-8 or not YAML.
    """
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None


M = TypeVar("M", bound=BaseModel)


def load_model(model: type[M], source: Path | dict[str, Any] | None, overrides: Sequence[str] = (),
               what: str = "config", label: str | Path | None = None) -> M:
    """Validate ``model`` from a YAML file, a tree of sections (copied) or nothing, with ``key=value`` overrides
    applied: the one loader of every typed config (the job's, the gate's). ``label`` names the source in
    messages (default: its path).

    Raises:
        ConfigError: naming the file or key of the first problem.
    """
    if isinstance(source, dict):
        tree, source = copy.deepcopy(source), None
    else:
        tree = _read_tree(source, what)
    for item in overrides:
        _set_dotted(tree, *parse_override(item))
    try:
        return model.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or what
        message = first["msg"].removeprefix("Value error, ")
        if first.get("type") in ("literal_error", "bool_parsing", "int_parsing", "float_parsing", "missing"):
            message += f" (got {first.get('input')!r})" if first.get("type") != "missing" else ""
        label = label if label is not None else source
        raise ConfigError(f"{label}: {where}: {message}" if label else f"{where}: {message}") from None


#: Settings added after run folders and exports were first written, each with the value that reproduces how those
#: were made. A resolved config (a run's ``config.yaml``, an export's, every key written out) without one predates it.
ADDED_SETTINGS: dict[str, Any] = {"input.face_min_side": 0, "input.face_retry": 0}


def load_resolved_config(source: Path | dict[str, Any], label: str | Path | None = None) -> Config:
    """A fully resolved config (a run folder's ``config.yaml`` or an export's), each setting of
    :data:`ADDED_SETTINGS` it predates set as the run was made, so an old run predicts as it was trained.

    Raises:
        ConfigError: naming the file or key of the first problem.
    """
    if isinstance(source, dict):
        tree = source
    else:
        tree, label = _read_tree(source, "config"), source if label is None else label
    missing = [f"{key}={value}" for key, value in ADDED_SETTINGS.items() if not _has_dotted(tree, key)]
    return load_model(Config, tree, missing, label=label)


def _read_tree(path: Path | None, what: str) -> dict[str, Any]:
    """The sections of a YAML file (none for no file or an empty one)."""
    if path is None:
        return {}
    loaded = read_yaml(path)
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{path}: a {what} must be a mapping of sections")
    return loaded or {}


def _has_dotted(tree: dict, key: str) -> bool:
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def load_config(source: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a config from a YAML file or preset name (or defaults), then apply ``key=value`` overrides.

    Raises:
        ConfigError: naming the file or key of the first problem.
    """
    return load_model(Config, resolve_preset(source) if source is not None else None, overrides, label=source)


def dump_config(config: Config) -> str:
    """The fully resolved config as YAML (paths as strings), ready to reproduce a run."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
