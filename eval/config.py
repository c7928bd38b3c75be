"""The harness's settings and presets (static: they fix shapes, step counts, sample sizes)."""

from __future__ import annotations

import dataclasses

from jaxpriv.classify import ClassifierConfig, StrongConfig


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Sizes of attackers and samples, where the strong attacker is spent, and DySan's
    online-phase settings."""

    cnn: ClassifierConfig = dataclasses.field(default_factory=ClassifierConfig)
    rf_trees: int = 100
    rf_max_depth: int | None = None
    strong: StrongConfig = dataclasses.field(default_factory=StrongConfig)
    # The staged plan (eval.attack_plan): "staged" trains the strong family for raw data,
    # the transforms near the cheap attackers' privacy-utility front and the online
    # policies' sanitizers; "all" for every transform; "cheap" for none.
    attackers: str = "staged"
    strong_transforms: int | None = None  # None: every transform within front_margin
    front_margin: float = 0.02  # accuracy (both axes) from the front still counted "near"
    # Not trained where the cheap attackers' gap is this close to the largest possible one:
    # a stronger attacker could add at most this much.
    saturation: float = 0.02
    policy_min_share: float = 0.05  # dynamic policy: sanitizers releasing this share of chunks
    # Gender on known users (trial/time splits): it follows from identity there, and every
    # release of the main job leaked it almost completely; the quick preset measures activity
    # and identity on those splits, gender on held-out users.
    known_users_gender: bool = True
    strong_roles: tuple[str, ...] = ("privacy",)  # tasks the strong family attacks
    strong_modes: tuple[str, ...] = ("adaptive",)  # the headline threat; "static" may be added
    weak_margin: float = 0.02  # warn when a verdict's family is this far below the best on raw
    execution: str = "auto"  # network attackers: auto (CPU: one by one), vmap, sequential
    bootstrap: int = 2000  # resamples of users for every confidence interval
    # DTW: windows per transform for the raw-vs-released distance, and per user for the
    # k-NN rank (queries: released test windows; references: raw training windows).
    dtw_pairs: int = 200
    dtw_queries_per_user: int = 5
    dtw_references_per_user: int = 10
    dtw_window: int | None = None  # Sakoe-Chiba band; None = unconstrained, as MSDA
    # DySan's online phase (seed 001).
    chunk: int = 5  # p: windows per released chunk
    weight_activity: float = 0.2  # x
    weight_gender: float = 0.8  # y
    calibration_fraction: float = 0.3  # of each held-out user's windows, to train the RF
    subset_sizes: tuple[int, ...] = (36, 20, 16, 8)  # Table 1 (capped at the run's size)
    subset_draws: int = 20
    fingerprint_draws: int = 100  # Appendix F


PRESETS: dict[str, EvalConfig] = {
    # Minutes for a 36-variant DySan run on 2 CPU cores: the strong family on the front
    # itself (front_margin 0), checked every 50 steps.
    "quick": EvalConfig(
        cnn=ClassifierConfig(features=(16, 32, 32), dense=32, steps=400, batch_size=64),
        rf_trees=60,
        strong=StrongConfig(
            features=(32, 32, 32), pool=True, max_steps=2000, eval_every=50, patience=3
        ),
        front_margin=0.0,
        known_users_gender=False,
    ),
    # The calibration's classifier (docs/calibration.md); an accelerator helps for many variants.
    "full": EvalConfig(
        cnn=ClassifierConfig(steps=800),
        rf_trees=200,
        dtw_pairs=1000,
        dtw_queries_per_user=20,
        dtw_references_per_user=40,
    ),
    # Unit tests only: seconds, not accuracy.
    "test": EvalConfig(
        cnn=ClassifierConfig(features=(8, 8), dense=8, steps=30, batch_size=32),
        rf_trees=10,
        strong=StrongConfig(
            features=(8, 8),
            kernels=(5, 3),
            pool=True,
            batch_size=32,
            max_steps=40,
            eval_every=20,
            patience=1,
        ),
        bootstrap=200,
        dtw_pairs=8,
        dtw_queries_per_user=2,
        dtw_references_per_user=3,
        subset_draws=3,
        fingerprint_draws=10,
    ),
}
