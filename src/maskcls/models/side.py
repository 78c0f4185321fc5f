"""A second, face-pretrained trunk beside the backbone (``model.side_trunk``): one model with two trunks.

The backbone (an ImageNet net) sees the face crop as its preprocessing prepares it. The side trunk, one of the
dlib face nets (:mod:`maskcls.models.dlib_nets`: ``dlib_age`` trained on faces for age, ``dlib_gender`` for
gender), sees the same input tensor re-normalised to its own mean and scale and shrunk to its own input size
inside the model, so training, prediction, the service and the ONNX export all feed it the same way from the one
preprocessing path. Its pooled features, layer-normalised, join the backbone's before the head.

The side net is frozen by default (``model.side_trunk_trainable=false``): it runs without gradients, which costs
one forward of a small net a photo, and keeps the face training it carries. The crop it sees is the run's own
face cut (``input.face_frame``), not dlib's 5-landmark chip its weights were trained on; the head learns how far
to trust it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from maskcls.errors import MaskclsError
from maskcls.models.backbones import Preprocess, create_backbone
from maskcls.models.dlib_nets import AGE, GENDER

#: The nets that can be a side trunk (``model.side_trunk`` accepts the same names).
SIDE_TRUNKS = (AGE, GENDER)


class SideTrunk(nn.Module):
    """A face net run on the backbone's input, returning layer-normalised pooled features.

    Args:
        name: one of :data:`SIDE_TRUNKS`.
        main: the backbone's preprocessing (the normalisation of the input tensor the model receives).
        trainable: fine-tune the side net too (its layer norm always trains).

    Attributes:
        net: the face net, with its offline weights, returning pooled features.
        size: its input ``(height, width)``.
        num_features: width of the features it adds.
    """

    def __init__(self, name: str, main: Preprocess, trainable: bool = False) -> None:
        super().__init__()
        if name not in SIDE_TRUNKS:
            raise MaskclsError(f"model.side_trunk: unknown {name!r} (known: {', '.join(SIDE_TRUNKS)})")
        self.name = name
        self.net, own = create_backbone(name, True)
        self.size = tuple(own.size)
        self.trainable = trainable
        main_mean, main_std = torch.tensor(main.mean), torch.tensor(main.std)
        own_mean, own_std = torch.tensor(own.mean), torch.tensor(own.std)
        # input = (pixel - main_mean) / main_std; the net wants (pixel - own_mean) / own_std.
        self.register_buffer("scale", (main_std / own_std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", ((main_mean - own_mean) / own_std).view(1, 3, 1, 1), persistent=False)
        # The backbone's input size is fixed by its preprocessing, so the shrinking is planned once (no branch on
        # tensor shapes in the forward: the ONNX trace stays general).
        self.halvings = 0
        height, width = main.size
        while height >= 2 * self.size[0] and width >= 2 * self.size[1]:
            height, width, self.halvings = height // 2, width // 2, self.halvings + 1
        self.resize = (height, width) != self.size
        self.num_features = int(self.net.num_features)
        self.norm = nn.LayerNorm(self.num_features)
        self.freeze_net()

    def freeze_net(self) -> None:
        """Make the side net untrainable unless it was built ``trainable`` (the layer norm stays trainable)."""
        for param in self.net.parameters():
            param.requires_grad_(self.trainable)

    def shrink(self, x: Tensor) -> Tensor:
        """The input (of the backbone's size) re-normalised for the side net and resized to its size: halved by
        average pooling while at least twice as large (less aliasing than one bilinear step), then bilinear."""
        x = x * self.scale + self.shift
        for _ in range(self.halvings):
            x = F.avg_pool2d(x, 2)
        if self.resize:
            x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        return x

    def forward(self, x: Tensor) -> Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.trainable):
            features = self.net(self.shrink(x))
        return self.norm(features)
