"""The straightforward PyTorch fine-tune that maskcls is measured against.

Written the way most teams started: a ``Dataset`` that opens and resizes each JPEG every epoch, a ``DataLoader``
with worker processes, timm's model with an 18-way classifier, cross-entropy, AdamW, the best epoch by validation
accuracy. It borrows from maskcls only what is not being compared: the layout reader (so labels are identical),
the bundled ImageNet weights and the official metric.

``--split image`` draws validation photos at random (the common mistake: the same person's other photos are in
training, so validation scores flatter the model); ``--split person`` holds out people, and ``--split-file``
holds out the people of a maskcls run's ``split.json`` (to compare learning curves on the same people). Whatever the split, every
epoch is also scored on ``--eval-root`` (people never seen in training) when given, and the best model on the
labelled face crops of ``--crops``.

    .venv/bin/python benchmarks/plain_loop.py ROOT --eval-root ROOT --crops CROPS --epochs 3 --out plain.json
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from maskcls.data.layout import scan_eval, scan_train
from maskcls.data.splits import Split
from maskcls.fileio import write_text
from maskcls.inference.evaluate import read_crop_labels, score_masks
from maskcls.metrics import read_answers, score_labels
from maskcls.models import create_backbone


class Photos(Dataset):
    """Photos decoded and resized on every access."""

    def __init__(self, paths: list[Path], labels: list[int], transform: transforms.Compose) -> None:
        self.paths, self.labels, self.transform = paths, labels, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("RGB")), self.labels[index]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="Competition-layout training root.")
    parser.add_argument("--split", choices=("image", "person"), default="image")
    parser.add_argument("--split-file", type=Path, help="A maskcls split.json: validate on exactly its people.")
    parser.add_argument("--val", type=float, default=0.2, help="Validation share (photos or people).")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=0, help="Stop each epoch after this many steps (throughput runs).")
    parser.add_argument("--eval-root", type=Path, help="Root with eval/info.csv and eval_gt.csv: scored every epoch.")
    parser.add_argument("--crops", type=Path, help="Face crops with labels.csv (file,mask): mask F1 of the best model.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="JSON with every figure.")
    return parser.parse_args(argv)


def split_indices(records, how: str, share: float, seed: int) -> tuple[list[int], list[int]]:
    """Training and validation indices, by photo or by person."""
    rng = random.Random(seed)
    if how == "image":
        order = list(range(len(records)))
        rng.shuffle(order)
        cut = int(len(order) * share)
        return sorted(order[cut:]), sorted(order[:cut])
    people = sorted({r.person for r in records})
    rng.shuffle(people)
    held = set(people[: int(len(people) * share)])
    return ([i for i, r in enumerate(records) if r.person not in held],
            [i for i, r in enumerate(records) if r.person in held])


@torch.inference_mode()
def predict(model: nn.Module, loader: DataLoader) -> np.ndarray:
    """Softmax probabilities of every photo of ``loader``."""
    model.eval()
    return np.concatenate([torch.softmax(model(x), 1).numpy() for x, _ in loader])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    records = scan_train(args.root).records
    if args.split_file:
        train_idx, val_idx = (list(map(int, part)) for part in Split.load(args.split_file).indices(records))
    else:
        train_idx, val_idx = split_indices(records, args.split, args.val, args.seed)
    model, pre = create_backbone(args.backbone, True, args.size, num_classes=18)
    interp = transforms.InterpolationMode.BICUBIC if pre.interpolation == "bicubic" else transforms.InterpolationMode.BILINEAR
    resize = transforms.Resize((args.size, args.size), interpolation=interp)
    tail = [transforms.ToTensor(), transforms.Normalize(pre.mean, pre.std)]
    train_tf = transforms.Compose([resize, transforms.RandomHorizontalFlip(), *tail])
    eval_tf = transforms.Compose([resize, *tail])

    def loader(paths, labels, transform, shuffle=False):
        return DataLoader(Photos(paths, labels, transform), batch_size=args.batch_size, shuffle=shuffle,
                          num_workers=args.workers, persistent_workers=args.workers > 0)

    paths = [r.path for r in records]
    labels = [r.label() for r in records]
    train_loader = loader([paths[i] for i in train_idx], [labels[i] for i in train_idx], train_tf, shuffle=True)
    val_loader = loader([paths[i] for i in val_idx], [labels[i] for i in val_idx], eval_tf)
    eval_loader = eval_truth = None
    if args.eval_root:
        evalset = scan_eval(args.eval_root)
        ids, truth = read_answers(args.eval_root / "eval_gt.csv")
        order = {image_id: k for k, image_id in enumerate(ids)}
        eval_truth = np.array([truth[order[i]] for i in evalset.image_ids])
        eval_loader = loader(evalset.paths, list(eval_truth), eval_tf)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss()
    history, best_acc, best_state, train_seconds = [], -1.0, None, 0.0
    began = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        start, seen = time.perf_counter(), 0
        for step, (x, y) in enumerate(train_loader, start=1):
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            seen += len(y)
            if args.max_steps and step >= args.max_steps:
                break
        seconds = time.perf_counter() - start
        train_seconds += seconds
        row = {"epoch": epoch, "train_seconds": round(seconds, 2), "images_per_s": round(seen / seconds, 1),
               "elapsed_train_seconds": round(train_seconds, 2)}
        if not args.max_steps:
            val_probs = predict(model, val_loader)
            val = score_labels(np.array([labels[i] for i in val_idx]), val_probs.argmax(1))
            row.update(val_accuracy=round(val.accuracy, 4), val_f1=round(val.macro_f1, 4))
            if eval_loader is not None:
                row["eval_f1"] = round(score_labels(eval_truth, predict(model, eval_loader).argmax(1)).macro_f1, 4)
            row["elapsed_seconds"] = round(time.perf_counter() - began, 2)  # training and validation so far
            if val.accuracy > best_acc:
                best_acc, best_state = val.accuracy, {k: v.clone() for k, v in model.state_dict().items()}
        history.append(row)
        print(json.dumps(row), flush=True)
    result: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "epochs": history,
                    "train_minutes": round(train_seconds / 60, 2), "train_images": len(train_idx),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
    if best_state is not None:
        model.load_state_dict(best_state)
        result["best_epoch"] = max(history, key=lambda r: r["val_accuracy"])["epoch"]
        if eval_loader is not None:
            score = score_labels(eval_truth, predict(model, eval_loader).argmax(1))
            result["eval"] = {"macro_f1": score.macro_f1, "accuracy": score.accuracy, "task_f1": score.task_f1}
        if args.crops:
            crop_paths, states = read_crop_labels(args.crops)
            probs = predict(model, loader(crop_paths, [0] * len(crop_paths), eval_tf))
            masks = probs.reshape(len(probs), 3, 6).sum(2).argmax(1)
            result["crowd_mask_f1"] = score_masks(states, masks)[0]
    write_text(args.out, json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
