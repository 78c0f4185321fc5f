"""Mixed precision: float32 on the CPU, bfloat16 or float16 on CUDA as train.amp_dtype says (no GPU needed)."""

import pytest
import torch

from maskcls.config import TrainConfig
from maskcls.engine.loop import amp_dtype
from maskcls.errors import MaskclsError


def test_amp_dtype_by_device_and_setting(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert amp_dtype(TrainConfig(), cpu) is None and amp_dtype(TrainConfig(amp_dtype="bf16"), cpu) is None
    assert amp_dtype(TrainConfig(amp=False), cuda) is None
    assert amp_dtype(TrainConfig(amp_dtype="fp16"), cuda) is torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert amp_dtype(TrainConfig(), cuda) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert amp_dtype(TrainConfig(), cuda) is torch.float16  # auto falls back to float16 (with a scaler)
    with pytest.raises(MaskclsError, match="amp_dtype=bf16"):
        amp_dtype(TrainConfig(amp_dtype="bf16"), cuda)
