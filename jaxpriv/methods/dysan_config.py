"""DySan's static settings: the config dataclass, its presets and the choices it offers.

Static settings (shapes, step counts, code paths) live in :class:`DysanConfig`;
values that may differ between parallel variants live in the hyperparameter
pytree (:data:`HP_KEYS`).

Two choices shape the system (docs/training.md, systems.md section 1):

- ``arch``: ``"original"`` (the default) is the authors' networks
  (:mod:`jaxpriv.nn.dysan_original`: a 3.9M-parameter sanitizer with a 64-unit
  bottleneck over the whole window; the predictor and the discriminator also see the
  reconstructed attributes, the discriminator the true activity). ``"light"`` is
  jaxpriv's own smaller networks (:mod:`jaxpriv.nn.dysan`), which are NOT the
  authors': Dense layers per time step, networks that see only ``x'``.
- ``activity_mode``: what the sanitizer is told about the activity. ``"original"``
  (the default): a zeroed activity vector, as the code's ``SanitizeActivities =
  False``; ``"predicted"``: the label of an on-device activity classifier trained on
  raw training windows (DySan(o)); ``"none"``: no activity input at all; ``"true"``:
  the true label, a diagnostic only: the sanitizer can copy the label into its
  output, so a retrained activity model reads it back (every summary marks it as
  leaking).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

HP_KEYS = ("alpha", "lam", "lr_san", "lr_pred", "lr_disc", "seed")
ARCHS = ("original", "light")
ACTIVITY_MODES = ("original", "predicted", "none", "true")
MODES = ("sum", "vector")
DEFAULT_LR = 5e-4
# The code's early stop of the inner loops (dysan/Sanitization.py, train_predictor):
# after more than EARLY_STOP_WINDOW steps, stop once the largest of the last
# EARLY_STOP_WINDOW batch losses is below 1/EARLY_STOP_FACTOR of the first loss recorded.
EARLY_STOP_WINDOW = 20
EARLY_STOP_FACTOR = 10.0
# The first loss when none is recorded yet (the code's default).
EARLY_STOP_FIRST_LOSS = 0.5
LEAK_WARNING = (
    "LEAKS: activity_mode 'true' feeds the true activity label to the sanitizer, which "
    "can copy it into its release; a diagnostic, not a privacy result"
)


@dataclasses.dataclass(frozen=True)
class DysanConfig:
    """Static settings of a DySan run (they fix shapes and code paths)."""

    window: int = 125
    stride: int = 63
    num_channels: int = 6
    num_activities: int = 4
    arch: Literal["original", "light"] = "original"
    activity_mode: Literal["original", "predicted", "none", "true"] = "original"
    conditional: bool = True  # light only: the sanitizer sees the conditioning vector
    width: float = 1.0  # light only: multiplies every layer's features
    epochs: int = 300
    batch_size: int = 256
    k_pred: int = 50
    k_disc: int = 50
    mode: Literal["sum", "vector"] = "sum"  # "vector": one sanitizer step per loss term
    weight_decay: float = 1e-10  # Adam's L2 term, as torch.optim.Adam(weight_decay=...)
    early_stop: bool = False  # the code's early stop of the inner loops
    # Sanitize the whole training set once per batch for the inner loops, instead of
    # one batch per inner step, when that is less work ("auto"), or never / always.
    inner_pool: Literal["auto", "never", "always"] = "auto"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("arch", ARCHS),
            ("activity_mode", ACTIVITY_MODES),
            ("mode", MODES),
            ("inner_pool", ("auto", "never", "always")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}"
                )
        if not self.width > 0:
            raise ValueError(f"width must be positive, got {self.width}")
        if self.arch == "original" and (self.width != 1.0 or not self.conditional):
            raise ValueError(
                "the authors' networks (arch 'original') have one size and are always "
                "conditioned: --width and --unconditional apply to --arch light only"
            )
        if not self.conditional and self.activity_mode != "none":
            raise ValueError(
                "an unconditional sanitizer sees no activity: use activity_mode 'none'"
            )
        for name in ("epochs", "batch_size", "window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("k_pred", "k_disc"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def activity_inputs(self) -> int:
        """Size of the sanitizer's activity input (and output): 0 in ``none`` mode."""
        return 0 if self.activity_mode == "none" else self.num_activities

    @property
    def leaks(self) -> bool:
        """True for the ``true`` activity mode, a diagnostic that leaks the label."""
        return self.activity_mode == "true"


PRESETS: dict[str, dict[str, Any]] = {
    # Minutes on 2 CPU cores for the 36-variant grid on the embedded dataset: jaxpriv's
    # light networks at quarter width, 2 epochs, one inner step (docs/training.md says
    # why not the authors' networks: measured too slow for minutes on 2 cores).
    "quick": dict(arch="light", epochs=2, batch_size=64, k_pred=1, k_disc=1, width=0.25),
    # The paper's effect on 2 CPU cores within an hour for the whole 36-variant grid: the
    # authors' networks and conditioning, one step on the weighted sum, one inner step,
    # batch 64 (4x the sanitizer steps of batch 256 per epoch), 5 epochs (docs/training.md).
    "standard": dict(arch="original", mode="sum", epochs=5, batch_size=64, k_pred=1, k_disc=1),
    # The authors' code: their networks, vector mode, Adam 5e-4, batch 256, 300 epochs,
    # K = 50 with their early stop of the inner loops.
    "paper": {
        "arch": "original",
        "mode": "vector",
        "epochs": 300,
        "batch_size": 256,
        "k_pred": 50,
        "k_disc": 50,
        "early_stop": True,
    },
}


def preset_config(name: str, **overrides: Any) -> DysanConfig:
    """A preset with ``overrides``; a preset's light-only width is dropped when the
    override picks the authors' networks (``arch="original"``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    settings = {**PRESETS[name], **overrides}
    if settings.get("arch", "original") == "original" and "width" not in overrides:
        settings.pop("width", None)
    return DysanConfig(**settings)


def config_from_meta(config: Mapping[str, Any]) -> DysanConfig:
    """The config stored in a checkpoint's metadata; a clear error for runs trained
    before ``arch`` and ``activity_mode`` existed (their conditioning differs)."""
    if "arch" not in config or "activity_mode" not in config:
        raise ValueError(
            "this DySan run was trained before --arch and --activity-mode existed (light "
            "networks fed the true activity); retrain it with this jaxpriv"
        )
    names = {f.name for f in dataclasses.fields(DysanConfig)}
    unknown = sorted(set(config) - names)
    if unknown:
        raise ValueError(f"DySan config fields {unknown} are unknown to this jaxpriv")
    return DysanConfig(**config)
