"""One training run, end to end: data → split → cache → model → loop → a run folder that explains itself.

``runs/<name>[-N]/`` holds ``config.yaml`` (fully resolved), ``split.json``, ``metrics.csv`` (one row an epoch;
``process_s`` is the seconds since the ``maskcls`` process started when that epoch's validation ended),
``best.pt`` (weights chosen by validation macro F1, or ``train.monitor``) and ``last.pt`` (everything needed to resume),
``val_predictions.csv``, ``plots/`` (curves, confusion matrix), ``report.html`` and TensorBoard logs in ``tb/``.
A run never overwrites another: a new name gets a ``-N`` suffix; ``resume`` continues a run in its own folder.

Under torchrun (``maskcls train ... --nproc N``) every process runs this same code on its shard of the data
(see :mod:`maskcls.engine.distributed`); rank 0 alone makes the folder and writes into it.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

import maskcls
from maskcls.config import Config, ConfigError, dump_config
from maskcls.data.records import Record
from maskcls.data.splits import Split, make_holdout, make_split
from maskcls.devices import resolve_device
from maskcls.engine import distributed
from maskcls.engine.loop import EpochStats, Trainer, seed_everything, tune_backends
from maskcls.engine.loggers import open_loggers
from maskcls.engine.objective import Objective
from maskcls.engine.trace import Trace
from maskcls.errors import MaskclsError, forget, keep
from maskcls.fileio import atomic_write, write_text
from maskcls.metrics import Score, score_labels
from maskcls.runs import RunFolder, save_checkpoint

Log = Callable[[str], None]
#: Called by rank 0 after each epoch with the epoch number and its validation score; ``True`` stops the run
#: (its folder is then finished as usual). Sweeps report to Optuna and prune through it.
EpochHook = Callable[[int, Score], bool]


@dataclass
class RunData:
    """Records, split and the train/validation indices of one run (competition records first, then those of the
    other sources, which only train)."""

    records: list[Record]
    split: Split
    train_idx: np.ndarray
    val_idx: np.ndarray
    skipped: list[str] = field(default_factory=list)
    source_of: np.ndarray | None = None  # the index in ``sources`` of every record
    sources: list = field(default_factory=list)  # maskcls.data.sources.SourceRecords, in config order


@dataclass
class Phase:
    """A stretch of epochs with one set of trainable weights: the head on features, or images end to end."""

    name: str
    epochs: int
    on_features: bool
    lr: float


def prepare_data(cfg: Config, fold: int | None = None, log: Log = print) -> RunData:
    """Load and relabel the records of every source, make or reuse the split of the competition people, and pick
    this run's train/validation photos (the other sources' photos all train; validation stays on competition
    people)."""
    from maskcls.data.sources import load_sources

    if cfg.data.root is None and not cfg.data.sources:
        raise ConfigError("data.root: set the competition folder (data.root=PATH)")
    parts = load_sources(cfg.data, cfg.seed)
    for part in parts:
        bad = [p for p in part.problems if p.severity in ("error", "warning")]
        if bad:
            log(f"data: {len(bad)} problem(s) found while reading {part.config.root} (see `maskcls data check`)")
        if part.dev_left_out:
            log(f"data: {part.name}: {part.dev_left_out} photo(s) of the development hold-out ({part.holdout}) "
                "left out")
        if not part.records:
            log(f"data: {part.name}: all {part.excluded} photo(s) outside the hold-out are of people of "
                f"{', '.join(str(r) for r in part.config.exclude)}: it adds nothing")
    competition = [r for part in parts if part.config.kind == "competition" for r in part.records]
    others = [(number, r) for number, part in enumerate(parts) if part.config.kind != "competition"
              for r in part.records]
    records = competition + [r for _, r in others]
    source_of = np.array([n for n, part in enumerate(parts) if part.config.kind == "competition"
                          for _ in part.records] + [n for n, _ in others], dtype=np.int64)
    bands = cfg.data.bands()
    if cfg.split.file is not None:
        split = Split.load(cfg.split.file)
        split.check_matches(competition)
    elif cfg.split.kind == "kfold":
        split = make_split(competition, cfg.split.n_splits, cfg.split.seed, bands=bands)
    else:
        split = make_holdout(competition, cfg.split.val_fraction, cfg.split.seed, bands)
    fold = split.val_fold if fold is None else fold
    if not 0 <= fold < split.n_splits:
        raise MaskclsError(f"fold {fold} does not exist (the split has {split.n_splits})")
    train_idx, val_idx = split.indices(competition, fold)
    train_idx = np.concatenate([train_idx, np.arange(len(competition), len(records))]).astype(np.int64)
    policy = cfg.data.age_policy()
    kept = np.array([records[i].age is None or policy.keep(records[i].age) for i in train_idx], dtype=bool)
    if (~kept).any():
        log(f"data: {int((~kept).sum())} training photos dropped by data.train_drop_ages={cfg.data.train_drop_ages}")
    train_idx = train_idx[kept]
    masks = cfg.data.train_masks()
    if masks is not None:  # competition photos only: the other sources' mask labels are theirs to keep
        listed = np.array([i >= len(competition) or records[i].mask in masks for i in train_idx], dtype=bool)
        log(f"data: {int((~listed).sum())} training photos left out by data.train_mask_states="
            f"[{', '.join(cfg.data.train_mask_states)}]")
        train_idx = train_idx[listed]
    return RunData(records, split, train_idx, val_idx, source_of=source_of, sources=parts)


class MetricsLog:
    """``metrics.csv``: one row an epoch, rewritten atomically after each epoch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if path.is_file():
            with open(path, newline="") as handle:
                self.rows = list(csv.DictReader(handle))

    def truncate(self, epochs: int) -> None:
        """Keep the first ``epochs`` rows (rows logged after the checkpoint a resume starts from go)."""
        self.rows = self.rows[:epochs]

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        with atomic_write(self.path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)


def evaluate_outputs(outputs: dict[str, np.ndarray], y_true: np.ndarray, cfg: Config) -> tuple[Score, np.ndarray]:
    """Turn a head's outputs into 18-class probabilities and score them with the official metric."""
    from maskcls.models.heads import class18_probs

    tensors = {k: torch.from_numpy(v) for k, v in outputs.items()}
    probs = class18_probs(tensors, tuple(cfg.data.age_thresholds)).numpy()
    return score_labels(y_true, probs.argmax(1), cfg.data.bands()), probs


def plan_phases(cfg: Config) -> list[Phase]:
    """The fast path trains the head on cached features, then optionally fine-tunes the last stages."""
    t = cfg.train
    if not t.features:
        return [Phase("full", t.epochs, False, t.lr)]
    phases = [Phase("head", t.epochs, True, t.lr)]
    if t.unfreeze_epochs:
        phases.append(Phase("finetune", t.unfreeze_epochs, False, t.unfreeze_lr))
    return phases


class Run:
    """A training run in its folder. Use :func:`train` rather than this class directly."""

    def __init__(self, cfg: Config, folder: Path, fold: int | None, log: Log,
                 on_epoch: EpochHook | None = None) -> None:
        self.cfg, self.folder, self.fold, self.log, self.on_epoch = cfg, folder, fold, log, on_epoch
        self.run = RunFolder(folder)
        self.world = distributed.world()
        self.device = distributed.setup(resolve_device(cfg.train.device))
        tune_backends(self.device, cfg.train.deterministic)
        if cfg.train.batch_size % self.world.size:
            raise ConfigError(f"train.batch_size={cfg.train.batch_size}: the global batch must split evenly over "
                              f"{self.world.size} processes")
        self.local_batch = cfg.train.batch_size // self.world.size
        if self.world.main:
            self.run.plots.mkdir(parents=True, exist_ok=True)
        self.metrics = MetricsLog(self.run.metrics_path)
        self.writers = open_loggers(cfg, folder) if self.world.main else []
        self.stopped = False  # set when ``on_epoch`` asked to stop
        self._loaders: dict[str, tuple[Any, np.ndarray, DataLoader]] = {}
        self.trace = Trace.from_env(self.world.rank, self.world.size)
        self.with_val = False  # set once the last epochs start training on the validation people too

    # ---- data -------------------------------------------------------------------------------------------
    def setup(self) -> None:
        from maskcls.models.classifier import build_classifier
        from maskcls.vision.cache import CacheStack
        from maskcls.vision.preprocess import CacheSpec
        from maskcls.vision.dataset import RecordDataset, record_targets
        from maskcls.vision.transforms import build_transforms
        from maskcls.vision.occlusion import LowerFaceOcclusion
        from maskcls.vision.surround import SurroundJitter

        cfg = self.cfg
        self.data = prepare_data(cfg, self.fold, self.log)
        if self.world.main:
            self.data.split.save(self.run.split_path)
        seed_everything(cfg.seed, cfg.train.deterministic)
        self.model = build_classifier(cfg.model, tuple(cfg.data.age_thresholds))
        if cfg.train.sync_bn and self.world.distributed:
            if self.device.type == "cuda":
                self.model = distributed.convert_sync_bn(self.model)
            else:
                self.log("train.sync_bn: torch has no SyncBatchNorm on the CPU; each process keeps its own statistics")
        self.model = self.model.to(self.device)
        if cfg.train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        pre = self.model.preprocess
        records = self.data.records
        used = np.concatenate([self.data.train_idx, self.data.val_idx])
        cache_dir = self.cache_dir()
        spec = CacheSpec.from_config(cfg.input, pre)
        started = time.perf_counter()
        with distributed.main_first():  # rank 0 builds the cache files, the others then map them
            self.cache = CacheStack.open(self._cache_groups(), spec, cache_dir, workers=cfg.train.workers or None)
        how = "reused" if self.cache.reused else f"built in {time.perf_counter() - started:.1f}s"
        parts = f" ({self.cache.describe()})" if len(self.cache.parts) > 1 else ""
        self.log(f"image cache {spec.size[1]}x{spec.size[0]} ({len(records)} photos) {how}{parts}")
        if spec.crop == "face":
            self._report_face_fallbacks(records)
        bad = set(self.cache.errors)
        for index in sorted(bad & set(used.tolist())):
            self.log(f"skipped unreadable photo: {self.cache.errors[index]}")
        self.data.train_idx = np.array([i for i in self.data.train_idx if i not in bad], dtype=np.int64)
        self.data.val_idx = np.array([i for i in self.data.val_idx if i not in bad], dtype=np.int64)
        if not len(self.data.train_idx) or not len(self.data.val_idx):
            raise MaskclsError("no readable photos left on one side of the split")
        self._write_contributions()
        bands = cfg.data.bands()
        self.train_targets = record_targets(records, bands, cfg.data.age_policy())
        if cfg.train.age_sigma:
            from maskcls.labels import AgeBands

            policy = cfg.data.age_policy()
            training_bands = AgeBands((bands.thresholds[0], policy.old_threshold)) if policy.old_threshold else bands
            self.train_targets["age_soft"] = training_bands.spread(self.train_targets["age_value"], cfg.train.age_sigma)
        if cfg.model.head == "multitask_years":
            from maskcls.labels import year_spread

            self.train_targets["age_years"] = year_spread(self.train_targets["age_value"], cfg.train.age_sigma)
        if cfg.train.distill_weight:
            from maskcls.engine.distill import teacher_targets

            self.train_targets.update(teacher_targets(records, cfg, cache_dir, self.log))
        self.val_targets = record_targets(records, bands)
        train_transform = None if cfg.aug.batched else build_transforms(cfg.aug.preset, pre, True)  # uint8 batches
        occlude = LowerFaceOcclusion(cfg.aug.occlude_worn, cfg.input.face_margin) if cfg.aug.occlude_worn else None
        surround = SurroundJitter(cfg.aug.surround) if cfg.aug.surround else None
        self.train_set = RecordDataset(records, self.cache, train_transform, self.train_targets, self._train_indices(1),
                                       occlude=occlude, surround=surround)
        self.val_set = RecordDataset(records, self.cache, build_transforms(cfg.aug.preset, pre, False),
                                     self.val_targets, self.data.val_idx)
        self.objective = Objective(cfg.model, cfg.train, self._class_counts()).to(self.device)

    def _write_contributions(self) -> None:
        """``sources.json``: what each source gave the run (photos per side, training counts per label)."""
        from maskcls.data.sources import contributions

        summary = contributions(self.data.sources, self.data.source_of, self.data.train_idx, self.data.val_idx,
                                self.data.records, self.cfg.data.bands())
        for entry in summary["sources"]:
            self.log(f"source {entry['name']} ({entry['kind']}): {entry['train_photos']} training, "
                     f"{entry['val_photos']} validation photos")
        if self.world.main:
            write_text(RunFolder(self.folder).sources_path, json.dumps(summary, indent=1) + "\n")

    def _cache_groups(self) -> list[tuple[str, list[Path]]]:
        """The records' photos as one group per run of records from the same source, named by the source."""
        from itertools import groupby

        records, source_of = self.data.records, self.data.source_of
        if source_of is None or not len(records):
            return [("photos", [r.path for r in records])]
        return [(self.data.sources[source].name, [record.path for _, record in run])
                for source, run in groupby(zip(source_of.tolist(), records), key=lambda pair: pair[0])]

    def _report_face_fallbacks(self, records: list[Record]) -> None:
        """Log how many photos had no face and list them in ``face_fallbacks.txt``."""
        fallbacks = self.cache.fallbacks
        readable = len(records) - len(self.cache.errors)
        self.log(f"face crop: {len(fallbacks)} of {readable} photos had no face and were centre-cropped")
        if self.world.main:
            write_text(self.run.face_fallbacks_path, "".join(f"{records[i].path}\n" for i in fallbacks))

    def cache_dir(self) -> Path | None:
        """Where image and feature caches live; ``None`` keeps them in memory (``cache.enabled=false``)."""
        from maskcls.vision.cache import cache_folder

        return cache_folder(self.cfg.cache)

    def _train_indices(self, epoch: int) -> np.ndarray:
        """The training photos of ``epoch`` (counted over all phases from 1): the validation people's too once
        ``train.train_on_val_epochs`` began, then ``train.undersample_masks``' draw for the epoch, then the repeats
        of ``train.oversample``."""
        from maskcls.vision.sampling import oversample_indices, undersample_indices

        idx = self.data.train_idx
        if self.with_val:
            idx = np.concatenate([idx, self.data.val_idx])
        if self.cfg.train.undersample_masks:
            people, stems = self._mask_photo_people(idx)
            idx = idx[undersample_indices(people, stems, self.cfg.train.undersample_masks, self.cfg.seed, epoch)]
        if self.cfg.train.oversample:
            labels = self.train_targets["class18"][idx]
            idx = idx[oversample_indices(labels, {int(k): int(v) for k, v in self.cfg.train.oversample.items()})]
        return idx

    def _mask_photo_people(self, idx: np.ndarray) -> tuple[list[str | None], list[str]]:
        """For ``train.undersample_masks``: the person (``source/folder``) of every ``mask*`` photo of a competition
        source among ``idx`` (``None`` for every other photo, which is always kept), and every photo's stem."""
        from maskcls.labels import MASK_STEMS

        people: list[str | None] = []
        for i in idx:
            record, source = self.data.records[i], self.data.sources[self.data.source_of[i]]
            drawn = source.config.kind == "competition" and record.stem in MASK_STEMS
            people.append(f"{source.name}/{record.person}" if drawn else None)
        return people, [self.data.records[i].stem for i in idx]

    def _draw_epoch(self, train_set, phase: Phase, epoch: int) -> None:
        """Give ``train_set`` the training photos of ``epoch`` (on features: each one plain and mirrored)."""
        idx = self._train_indices(epoch)
        train_set.indices = np.concatenate([idx, idx + len(self.data.records)]) if phase.on_features else idx

    def _class_counts(self) -> dict[str, np.ndarray]:
        from maskcls.engine.objective import HEAD_TASKS

        tasks = HEAD_TASKS[self.cfg.model.head]
        counts = {}
        for t, n in tasks.items():
            labels = self.train_targets[t][self.data.train_idx]
            counts[t] = np.bincount(labels[labels >= 0], minlength=n)
        return counts

    def train_loader(self, dataset, epoch: int) -> DataLoader:
        """A loader whose order depends only on the seed and the epoch, so a resumed run sees the same batches.

        Under torchrun each process gets its shard of every global batch (see
        :class:`~maskcls.engine.distributed.DistributedWeightedSampler`). The loader is kept while the dataset and
        its items stay the same, so on CUDA its workers persist from one epoch to the next (a new draw of
        ``train.undersample_masks`` makes a new loader: persistent workers would keep the old items).
        """
        from maskcls.vision.sampling import draw_weights

        def build() -> DataLoader:
            sources = self.data.source_of[dataset.indices % len(self.data.records)]  # features: plain + mirrored
            weights = draw_weights(dataset.target("class18"), sources, [p.config.weight for p in self.data.sources],
                                   self.cfg.train.sampler == "weighted")
            drop_last = len(dataset) > self.cfg.train.batch_size
            sampler = distributed.DistributedWeightedSampler(len(dataset), weights, self.cfg.seed * 10_007,
                                                             drop_last=drop_last, here=self.world)
            return DataLoader(dataset, batch_size=self.local_batch, sampler=sampler, drop_last=drop_last,
                              **self._loader_options())

        loader = self._loader("train", dataset, build)
        loader.sampler.set_epoch(epoch)
        return loader

    def eval_loader(self, dataset, positions: np.ndarray | None = None) -> DataLoader:
        """A loader over ``dataset`` in order, or over ``positions`` of it only (this process's validation shard, the
        same at every call)."""
        def build() -> DataLoader:
            sampler = None if positions is None else positions.tolist()
            return DataLoader(dataset, batch_size=self.local_batch * 2, sampler=sampler, shuffle=False,
                              **self._loader_options())

        return self._loader("eval" if positions is None else "eval-shard", dataset, build)

    def _loader(self, role: str, dataset, build: Callable[[], DataLoader]) -> DataLoader:
        """The loader of ``role`` kept from an earlier call if it serves the same dataset over the same items."""
        kept = self._loaders.get(role)
        if kept is None or kept[0] is not dataset or not np.array_equal(kept[1], dataset.indices):
            kept = self._loaders[role] = (dataset, dataset.indices.copy(), build())
        return kept[2]

    def _loader_options(self) -> dict[str, Any]:
        cuda, workers = self.device.type == "cuda", self.cfg.train.workers
        return {"num_workers": workers, "pin_memory": cuda, "persistent_workers": cuda and workers > 0}

    # ---- phases -----------------------------------------------------------------------------------------
    def feature_sets(self):
        """Feature datasets for the head phase: training (plain + mirrored) and validation."""
        from maskcls.engine.features import cached_features, features_key
        from maskcls.vision.dataset import FeatureDataset, RecordDataset

        cfg = self.cfg
        cache_dir = self.cache_dir()
        from maskcls.vision.transforms import build_transforms

        # Features are computed without augmentation; the mirrored copy is the only variation the head sees.
        every = RecordDataset(self.data.records, self.cache, build_transforms("none", self.model.preprocess, False),
                              self.val_targets)
        weights = str(cfg.model.pretrained)
        views = []
        for flip in (False, True):
            key = features_key(self.cache.key, cfg.model.backbone, weights, flip, cfg.model.sharing,
                               cfg.model.side_trunk)
            with distributed.main_first():  # rank 0 computes and stores the features, the others then load them
                views.append(cached_features(self.model, every, key, cache_dir, self.device,
                                             cfg.train.batch_size * 2, flip, cfg.train.workers))
        n = len(self.data.records)
        both = torch.cat(views)
        doubled = {k: np.concatenate([v, v]) for k, v in self.train_targets.items()}
        train_idx = self._train_indices(1)  # the head phase comes first
        train = FeatureDataset(both, doubled, np.concatenate([train_idx, train_idx + n]))
        val = FeatureDataset(views[0], self.val_targets, self.data.val_idx)
        return train, val

    def make_trainer(self, phase: Phase, steps: int) -> Trainer:
        from maskcls.engine.features import HeadOnly
        from maskcls.vision.transforms import BatchMixer

        if phase.on_features:
            self.model.freeze("backbone")
            module, mixer = HeadOnly(self.model), None
        else:
            if phase.name == "finetune":
                self.model.freeze("backbone")
                self.model.unfreeze_last(self.cfg.train.unfreeze_stages)
                self.model.bn_eval = self.cfg.train.finetune_bn == "frozen"
            else:
                self.model.freeze(self.cfg.model.freeze)
            module = self.model
            mix = BatchMixer.from_config(self.cfg.aug)
            mixer = (lambda x, t: mix(x, self.objective.soft(t))) if mix.enabled else None  # noqa: E731
        augment = None
        if self.cfg.aug.batched and not phase.on_features:
            from maskcls.vision.batch_augment import BatchWild

            augment = BatchWild(self.model.preprocess)
        return Trainer(module, self.objective, self.cfg.train, steps, phase.epochs, self.device, phase.lr, mixer,
                       augment)

    # ---- the loop ---------------------------------------------------------------------------------------
    def fit(self, resume_state: dict | None = None) -> None:
        cfg = self.cfg
        phases = plan_phases(cfg)
        total_epochs = sum(p.epochs for p in phases)
        state = resume_state or {}
        start_phase, start_epoch = int(state.get("phase", 0)), int(state.get("phase_epoch", 0))
        self.best_score = float(state.get("best_score", state.get("best_f1", -1.0)))
        self.best_epoch = int(state.get("best_epoch", 0))
        bad_epochs = int(state.get("bad_epochs", 0))
        done = sum(p.epochs for p in phases[:start_phase]) + start_epoch
        self.metrics.truncate(done)
        y_val = self.val_targets["class18"][self.data.val_idx]
        for number, phase in enumerate(phases):
            if number < start_phase:
                continue
            if phase.on_features:
                train_set, val_set = self.feature_sets()
            else:
                train_set, val_set = self.train_set, self.val_set
            steps = len(self.train_loader(train_set, 0))
            trainer = self.make_trainer(phase, steps)
            if number == start_phase and "trainer" in state:
                trainer.load_state_dict(state["trainer"])
            for epoch in range(trainer.epoch, phase.epochs):
                global_epoch = sum(p.epochs for p in phases[:number]) + epoch + 1
                with_val = cfg.train.train_on_val_epochs and global_epoch > total_epochs - cfg.train.train_on_val_epochs
                joins = with_val and not phase.on_features and not self.with_val
                if joins:
                    self.with_val = True
                if joins or cfg.train.undersample_masks:
                    self._draw_epoch(train_set, phase, global_epoch)
                # Processes draw their own dropout and augmentation (rank 0, and a lone process, as before).
                seed_everything(cfg.seed * 10_007 + global_epoch + 7_919 * self.world.rank, cfg.train.deterministic)
                stats = self._train_one(trainer, train_set, global_epoch, total_epochs, phase)
                outputs, val_loss = self._validate(trainer, val_set)
                score, probs = evaluate_outputs(outputs, y_val, cfg)
                monitored = float(getattr(score, cfg.train.monitor))
                improved = monitored > self.best_score
                if improved:
                    self.best_score, self.best_epoch, bad_epochs = monitored, global_epoch, 0
                    self._save_best(trainer, score, probs, global_epoch, phase.on_features)
                else:
                    bad_epochs += 1
                self._log_epoch(global_epoch, total_epochs, phase, stats, val_loss, score, improved, self.with_val)
                self._save(self.run.last_path, {
                    "model": self.model.state_dict(), "trainer": trainer.state_dict(), "phase": number,
                    "phase_epoch": epoch + 1, "best_score": self.best_score, "best_epoch": self.best_epoch,
                    "bad_epochs": bad_epochs, "fold": self.fold, "config": dump_config(cfg)})
                if self._stop_asked(global_epoch, score):
                    return
                if cfg.train.early_stop and bad_epochs >= cfg.train.early_stop:
                    self.log(f"early stop: no validation {cfg.train.monitor} gain for {bad_epochs} epochs")
                    return
            start_epoch = 0
            state = {}
            if phase.on_features:
                self._restore_best_head()

    def _restore_best_head(self) -> None:
        """Fine-tuning continues from the best head, not the last one."""
        distributed.barrier()  # rank 0 has written best.pt
        best = self.run.load_best()
        self.model.load_state_dict(best["model"])

    def _validate(self, trainer: Trainer, val_set) -> tuple[dict[str, np.ndarray], float]:
        """Outputs over the whole validation set, in order, and the loss per photo.

        Under torchrun each process predicts its shard with rank 0's BatchNorm statistics and the outputs are
        gathered, so every process scores exactly what one process predicting everything would.
        """
        from maskcls.progress import track

        if not self.world.distributed:
            return trainer.predict(track(self.eval_loader(val_set), "validating"), self.objective)
        distributed.sync_buffers(trainer.eval_model)
        positions = distributed.shard_positions(len(val_set), self.world)
        loader = self.eval_loader(val_set, positions)
        outputs, loss = trainer.predict(track(loader, "validating") if self.world.main else loader, self.objective)
        total, items = distributed.all_reduce([loss * len(positions), len(positions)])
        return distributed.gather_outputs(positions, outputs, len(val_set)), total / max(1.0, items)

    def _stop_asked(self, epoch: int, score: Score) -> bool:
        """Ask ``on_epoch`` (on rank 0; every process follows its answer) whether to stop here."""
        stop = bool(self.on_epoch(epoch, score)) if self.on_epoch is not None and self.world.main else False
        self.stopped = bool(distributed.broadcast_object(stop))
        if self.stopped:
            self.log(f"stopped after epoch {epoch} (asked by the caller)")
        return self.stopped

    def _save(self, path: Path, state: dict) -> None:
        """Save a checkpoint from rank 0 only."""
        if self.world.main:
            save_checkpoint(path, state)
            if self.trace is not None:
                self.trace.checkpoint()

    def _train_one(self, trainer: Trainer, train_set, epoch: int, epochs: int, phase: Phase) -> EpochStats:
        loader = self.train_loader(train_set, epoch)
        stats = self._train_epoch(trainer, loader if self.trace is None else self.trace.loader(loader, epoch), epoch,
                                  epochs, phase)
        if self.world.distributed:  # images over all processes in the slowest one's time; the global mean loss
            loss, images = distributed.all_reduce([stats.loss, stats.images])
            (seconds,) = distributed.all_reduce([stats.seconds], "max")
            stats = EpochStats(loss / self.world.size, int(images), seconds, stats.lr)
        return stats

    def _train_epoch(self, trainer: Trainer, loader, epoch: int, epochs: int, phase: Phase) -> EpochStats:
        from maskcls.progress import reporter

        if not self.world.main:
            return trainer.train_epoch(loader)
        with reporter(f"epoch {epoch}/{epochs} {phase.name}", len(loader), "img", {"loss": 0.0}) as update:
            return trainer.train_epoch(loader, lambda n, loss: update(items=n, loss=loss))

    def _log_epoch(self, epoch: int, epochs: int, phase: Phase, stats: EpochStats, val_loss: float, score: Score,
                   improved: bool, with_val: bool) -> None:
        row = {"epoch": epoch, "phase": phase.name, "train_loss": round(stats.loss, 5), "val_loss": round(val_loss, 5),
               "macro_f1": round(score.macro_f1, 5), "accuracy": round(score.accuracy, 5),
               **{f"{t}_f1": round(v, 5) for t, v in score.task_f1.items()}, "lr": f"{stats.lr:.3g}",
               "seconds": round(stats.seconds, 2), "images_per_s": round(stats.images_per_s, 1),
               "val_in_train": int(with_val), "process_s": round(time.perf_counter() - maskcls.STARTED, 2)}
        if not self.world.main:
            return
        self.metrics.append(row)
        for writer in self.writers:
            writer(epoch, {k: v for k, v in row.items() if isinstance(v, (int, float))})
        mark = " *best*" if improved else ""
        self.log(f"epoch {epoch}/{epochs} {phase.name:8s} loss {stats.loss:.4f}/{val_loss:.4f}  "
                 f"F1 {score.macro_f1:.4f}  acc {score.accuracy:.4f}  mask {score.task_f1['mask']:.3f} "
                 f"gender {score.task_f1['gender']:.3f} age {score.task_f1['age']:.3f}  "
                 f"{stats.images_per_s:.0f} img/s  {stats.seconds:.1f}s{mark}")

    def _save_best(self, trainer: Trainer, score: Score, probs: np.ndarray, epoch: int, on_features: bool) -> None:
        if not self.world.main:
            return
        weights = self.model.state_dict()
        if trainer.ema is not None:  # the EMA weights are the ones evaluated, so they are the ones kept
            prefix = "classifier." if on_features else ""  # HeadOnly wraps the classifier
            weights = {**weights, **{k.removeprefix(prefix): v for k, v in trainer.eval_model.state_dict().items()}}
        self._save(self.run.best_path, {"model": weights, "epoch": epoch, "macro_f1": score.macro_f1,
                                        "config": dump_config(self.cfg)})
        self.run.write_val_predictions([self.data.records[i] for i in self.data.val_idx],
                                       self.val_targets["class18"][self.data.val_idx], probs)

    def finish(self) -> None:
        from maskcls.engine.summary import write_run_report

        for writer in self.writers:
            writer.close()
        if self.world.main:
            write_run_report(self.run, self.cfg)
        distributed.barrier()  # the folder is complete for every process


def _quiet(_message: str) -> None:
    pass


def train(cfg: Config, runs_root: Path = Path("runs"), fold: int | None = None, folder: Path | None = None,
          log: Log = print, on_epoch: EpochHook | None = None) -> Path:
    """Train one model and return its run folder (``self_training`` is not read here: its rounds are
    :func:`maskcls.engine.self_training.train_self_training`'s, which trains this run as round 0).

    Args:
        cfg: the resolved configuration.
        runs_root: where run folders are made (``runs/<cfg.name>[-N]``).
        fold: the validation fold (default: the split's hold-out fold).
        folder: an exact folder to use (k-fold puts each fold in ``<run>/fold<k>``).
        log: where one-line messages go (rank 0's only under torchrun).
        on_epoch: called after each epoch with its number and validation score; returning ``True`` stops.
    """
    main = distributed.world().main
    distributed.setup(resolve_device(cfg.train.device))
    if cfg.data.root is None:  # before any folder is made
        raise ConfigError("data.root: set the competition folder (data.root=PATH)")
    if main:
        run = RunFolder.create(folder or runs_root / cfg.name)
        run.write_config(cfg)
        folder = run.path
    folder = distributed.broadcast_object(folder)  # the others use rank 0's folder, so -N numbering stays unique
    return train_in(cfg, folder, fold, log, on_epoch)


def train_in(cfg: Config, folder: Path, fold: int | None = None, log: Log = print,
             on_epoch: EpochHook | None = None) -> Path:
    """Train one model in ``folder``, made for it and already holding its ``config.yaml`` (as :func:`train`
    leaves it, or a self-training round with the pseudo labels its config names); every process passes the same
    folder. Arguments as :func:`train`."""
    main = distributed.world().main
    if main:
        keep(folder, f"resume with `maskcls train --resume {folder}`")
    log = log if main else _quiet
    run = Run(cfg, folder, fold, log, on_epoch)
    log(f"run folder: {folder}")
    _run_guarded(run, folder, main)
    return folder


def _run_guarded(run: "Run", folder: Path, main: bool, resume_state: dict | None = None) -> None:
    """Set up, fit and finish ``run``; a failure before the first ``last.pt`` removes the folder (nothing in it is
    worth keeping), while an interrupted run's folder is kept and named, resumable with ``--resume``."""
    if main:
        keep(folder, f"resume with `maskcls train --resume {folder}`")
    try:
        run.setup()
        run.fit(resume_state)
        run.finish()
    except Exception:
        if main and not (folder / "last.pt").exists():
            forget(folder)
            shutil.rmtree(folder, ignore_errors=True)
        raise
    forget(folder)


def resume(folder: Path, log: Log = print) -> Path:
    """Continue a killed run from its ``last.pt`` in its own folder (same split, fold and settings)."""
    folder = Path(folder)
    run_folder = RunFolder(folder)
    if not folder.is_dir():
        raise MaskclsError(f"{folder}: no such run folder")
    cfg = run_folder.read_config()
    started = run_folder.last_path.exists()
    state = run_folder.load_last() if started else None
    if state is not None and not {"phase", "phase_epoch"} <= set(state):
        raise MaskclsError(f"{run_folder.last_path}: not a resumable checkpoint (no phase and epoch in it)")
    if started or run_folder.split_path.is_file():
        cfg.split.file = run_folder.split_path  # the people the run started with, even if the data changed
    log = log if distributed.is_main() else _quiet
    run = Run(cfg, folder, state.get("fold") if state else None, log)
    log(f"resuming {folder} at phase {state['phase']} epoch {state['phase_epoch']}" if state
        else f"resuming {folder} from the start (it was stopped before its first epoch ended)")
    _run_guarded(run, folder, distributed.is_main(), state)
    return folder


def continue_or_start(folder: RunFolder, what: str, start: Callable[[], None], log: Log = print) -> None:
    """One member of a multi-run job (a k-fold fold, a self-training round): skip it when finished, resume it from
    its ``last.pt`` when it has one, else ``start()`` it from nothing."""
    if folder.is_finished():
        log(f"{what}: finished earlier, skipped")
    elif folder.has_last():
        log(f"{what}: resuming {folder.path}")
        resume(folder.path, log)
    else:
        start()
