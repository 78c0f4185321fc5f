"""Where a run's per-epoch scalars go besides ``metrics.csv``: TensorBoard by default, MLflow and W&B when asked.

``train.loggers`` names them; each is a :class:`ScalarWriter` called with the epoch and its numbers, closed when
the run ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from maskcls.config import Config
from maskcls.errors import MaskclsError
from maskcls.runs import RunFolder


class ScalarWriter:
    """One logger backend: ``writer(epoch, {name: number})``, then ``writer.close()``."""

    def __init__(self, write: Callable[[int, dict], None], close: Callable[[], None]) -> None:
        self._write, self.close = write, close

    def __call__(self, epoch: int, values: dict) -> None:
        self._write(epoch, values)


def open_loggers(cfg: Config, folder: Path) -> list[ScalarWriter]:
    """TensorBoard by default; MLflow and W&B when installed and asked for.

    Raises:
        MaskclsError: for a logger that is asked for but not installed.
    """
    writers = []
    if "tensorboard" in cfg.train.loggers:
        from torch.utils.tensorboard import SummaryWriter

        tb = SummaryWriter(str(RunFolder(folder).tb))
        writers.append(ScalarWriter(lambda e, v: [tb.add_scalar(k, x, e) for k, x in v.items()], tb.close))
    if "mlflow" in cfg.train.loggers:
        mlflow = _optional("mlflow")
        mlflow.start_run(run_name=folder.name)
        mlflow.log_params({"backbone": cfg.model.backbone, "head": cfg.model.head, "loss": cfg.train.loss})
        writers.append(ScalarWriter(lambda e, v: mlflow.log_metrics(v, step=e), mlflow.end_run))
    if "wandb" in cfg.train.loggers:
        wandb = _optional("wandb")
        session = wandb.init(project="maskcls", name=folder.name, dir=str(folder), config=cfg.model_dump(mode="json"))
        writers.append(ScalarWriter(lambda e, v: session.log(v, step=e), session.finish))
    return writers


def _optional(name: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise MaskclsError(f"train.loggers asks for {name}, which is not installed (pip install {name})") from None
