"""The replacement autoencoder (RAE, systems.md section 3) as pure functions over one variant.

The user declares each activity *required* (the app needs it), *sensitive* (must
not be revealed) or *neutral*. The autoencoder learns to map every sensitive
window to a neutral training window and every other window to itself (MSE), so
a released sensitive window looks like a neutral one while required activities
stay recognisable.

Targets of sensitive windows (``RaeConfig.pairing``):

- ``"same_user"`` (default): a random neutral training window **of the same
  user** (any user's when that user has none). The replacement then looks like
  this person's own neutral behaviour (body, phone placement), so the release
  of a user stays consistent over time instead of switching to another
  person's signature exactly when something sensitive happens, which an
  observer could notice. Under MSE the optimum for a sensitive input is the
  mean of its possible targets, so with ``"any"`` every replaced window tends to
  the one global mean neutral window (conspicuously identical across users).
- ``"any"``: a random neutral window of any user (the authors' code, which has
  no user information).

Targets are drawn again every epoch with ``fold_in(key, epoch)``
(``resample=True``); ``resample=False`` draws them once per variant, as the
authors' code. Hyperparameters that may differ between vmapped variants:
``lr``, ``sensitive_weight`` (the loss weight of sensitive windows) and ``seed``.

:func:`replacement_metrics` measures a release with any activity classifier's
predictions; the training summary and the harness's ``replacement`` evaluator
share it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpriv import losses
from jaxpriv.data.dataset import DataFormatError
from jaxpriv.nn.rae import ReplacementAutoencoder

PyTree = Any
HP_KEYS = ("lr", "sensitive_weight", "seed")
DEFAULT_ROLES = {"required": ("dws", "ups", "wlk"), "sensitive": ("jog",), "neutral": ("std",)}


# ------------------------------------------------------------------------------- roles


@dataclasses.dataclass(frozen=True)
class Roles:
    """Which activities the app needs, which must be hidden, and which are neutral."""

    required: tuple[str, ...]
    sensitive: tuple[str, ...]
    neutral: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in ("required", "sensitive", "neutral"):
            values = tuple(str(a) for a in getattr(self, name))
            object.__setattr__(self, name, values)
            dup = sorted({a for a in values if values.count(a) > 1})
            if dup:
                raise ValueError(f"{name} activities list {dup} more than once")
        for name in ("sensitive", "neutral"):
            if not getattr(self, name):
                raise ValueError(f"give at least one {name} activity")
        pairs = (("required", "sensitive"), ("required", "neutral"), ("sensitive", "neutral"))
        for a, b in pairs:
            shared = sorted(set(getattr(self, a)) & set(getattr(self, b)))
            if shared:
                raise ValueError(f"{a} and {b} activities share {shared}; each has one role")

    @property
    def activities(self) -> tuple[str, ...]:
        """Every declared activity: required, then sensitive, then neutral."""
        return self.required + self.sensitive + self.neutral

    def check_present(self, available: Sequence[str], where: str) -> None:
        """Raise ``DataFormatError`` naming the declared activities ``where`` lacks."""
        missing = [a for a in self.activities if a not in available]
        if missing:
            raise DataFormatError(
                f"{where}: activities {missing} are not in the data (present: {list(available)})"
            )

    def to_json(self) -> dict[str, list[str]]:
        return {k: list(getattr(self, k)) for k in ("required", "sensitive", "neutral")}

    @classmethod
    def from_json(cls, d: Mapping[str, Sequence[str]]) -> Roles:
        missing = [k for k in ("required", "sensitive", "neutral") if k not in d]
        if missing:
            raise ValueError(f"roles lack {missing}; got keys {sorted(d)}")
        return cls(tuple(d["required"]), tuple(d["sensitive"]), tuple(d["neutral"]))


def parse_roles(required: str, sensitive: str, neutral: str) -> Roles:
    """Roles from comma lists, e.g. ``parse_roles("dws,ups,wlk", "jog", "std")``."""

    def names(text: str) -> tuple[str, ...]:
        return tuple(a.strip() for a in text.split(",") if a.strip())

    return Roles(names(required), names(sensitive), names(neutral))


# ------------------------------------------------------------------------------ config


@dataclasses.dataclass(frozen=True)
class RaeConfig:
    """Static settings of an RAE run (they fix shapes and code paths)."""

    window: int = 128
    stride: int = 10
    num_channels: int = 2
    input_dense: bool = True  # the code's first linear Dense(d) before d/2
    epochs: int = 30
    batch_size: int = 128
    optimizer: Literal["adam", "adadelta"] = "adam"
    pairing: Literal["same_user", "any"] = "same_user"
    resample: bool = True  # new neutral targets every epoch (False: drawn once, as the code)

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "adadelta"):
            raise ValueError(f"optimizer must be 'adam' or 'adadelta', got {self.optimizer!r}")
        if self.pairing not in ("same_user", "any"):
            raise ValueError(f"pairing must be 'same_user' or 'any', got {self.pairing!r}")
        for name in ("epochs", "batch_size", "window", "stride", "num_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


PRESETS: dict[str, dict[str, Any]] = {
    # About 2 minutes on 2 busy CPU cores for the default 2-variant grid on the embedded
    # dataset, data preparation and the held-out summary included.
    "quick": dict(epochs=12, batch_size=128),
    # The authors' code (opportunity/om7): batch 128, 30 epochs, Adadelta (Keras: lr 1.0,
    # rho 0.95), targets drawn once from any user's neutral windows.
    "paper": dict(epochs=30, batch_size=128, optimizer="adadelta", pairing="any", resample=False),
}
DEFAULT_LR = {"adam": 1e-3, "adadelta": 1.0}


def preset_config(name: str, **overrides: Any) -> RaeConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return RaeConfig(**{**PRESETS[name], **overrides})


def _optimizer(kind: str) -> Callable[[jax.Array], optax.GradientTransformation]:
    # inject_hyperparams keeps the learning rate in the optimizer state: one per variant.
    if kind == "adadelta":
        return lambda lr: optax.inject_hyperparams(optax.adadelta)(
            learning_rate=lr, rho=0.95, eps=1e-7
        )
    return lambda lr: optax.inject_hyperparams(optax.adam)(learning_rate=lr)


# -------------------------------------------------------------------------------- data


def replacement_pools(
    subject_N: np.ndarray, replaced_N: np.ndarray, neutral_N: np.ndarray, pairing: str
) -> dict[str, np.ndarray]:
    """Where each replaced window draws its neutral target from (host-side).

    Returns ``replace_idx`` (R,) the replaced windows, ``pool`` (M,) neutral window
    indices grouped by user, per replaced window ``pool_start``/``pool_count`` (its
    slice of ``pool``), and ``fallback`` (R,) bool: its user had no neutral window, so
    any user's is used.
    """
    replace_idx = np.flatnonzero(replaced_N).astype(np.int32)
    neutral_idx = np.flatnonzero(neutral_N)
    if len(replace_idx) == 0 or len(neutral_idx) == 0:
        raise DataFormatError(
            f"the training windows hold {len(replace_idx)} sensitive and {len(neutral_idx)} "
            "neutral windows; the RAE needs both"
        )
    pool = neutral_idx[np.argsort(subject_N[neutral_idx], kind="stable")].astype(np.int32)
    start = np.zeros(len(replace_idx), np.int32)
    count = np.full(len(replace_idx), len(pool), np.int32)
    fallback = np.zeros(len(replace_idx), bool)
    if pairing == "same_user":
        users = subject_N[pool]
        lo = np.searchsorted(users, subject_N[replace_idx], side="left")
        hi = np.searchsorted(users, subject_N[replace_idx], side="right")
        fallback = hi == lo
        start = np.where(fallback, 0, lo).astype(np.int32)
        count = np.where(fallback, len(pool), hi - lo).astype(np.int32)
    elif pairing != "any":
        raise ValueError(f"pairing must be 'same_user' or 'any', got {pairing!r}")
    return {
        "replace_idx": replace_idx,
        "pool": pool,
        "pool_start": start,
        "pool_count": count,
        "fallback": fallback,
    }


def train_arrays(
    x_NxWxC: np.ndarray,
    activity_N: np.ndarray,
    subject_N: np.ndarray,
    activities: Sequence[str],
    roles: Roles,
    pairing: str,
) -> tuple[dict[str, np.ndarray], int]:
    """``(arrays, fallbacks)``: the data :func:`make_train` expects (scaled windows), and
    how many sensitive windows draw from every user's neutral windows (their user had none)."""
    roles.check_present(activities, "training windows")
    ids = {a: i for i, a in enumerate(activities)}
    sensitive = np.isin(activity_N, [ids[a] for a in roles.sensitive])
    neutral = np.isin(activity_N, [ids[a] for a in roles.neutral])
    pools = replacement_pools(np.asarray(subject_N), sensitive, neutral, pairing)
    fallbacks = int(pools.pop("fallback").sum())
    arrays = {"x": np.asarray(x_NxWxC, np.float32), "sensitive": sensitive, **pools}
    return arrays, fallbacks


def draw_targets(data: PyTree, key: jax.Array) -> jax.Array:
    """``(N,)`` target index per training window: itself, or a neutral window if replaced."""
    n = data["x"].shape[0]
    u = jax.random.uniform(key, data["replace_idx"].shape)
    offset = jnp.minimum((u * data["pool_count"]).astype(jnp.int32), data["pool_count"] - 1)
    picks = data["pool"][data["pool_start"] + offset]
    return jnp.arange(n, dtype=jnp.int32).at[data["replace_idx"]].set(picks)


# ---------------------------------------------------------------------------- training


def make_model(cfg: RaeConfig) -> ReplacementAutoencoder:
    return ReplacementAutoencoder(input_dense=cfg.input_dense)


def make_replace(cfg: RaeConfig) -> Callable[[PyTree, jax.Array], jax.Array]:
    """``replace(params, x_scaled_BxWxC) -> x'_scaled_BxWxC`` for one variant."""
    model = make_model(cfg)
    return lambda params, x: model.apply({"params": params}, x)


def make_train(cfg: RaeConfig) -> tuple[Callable, Callable, Callable]:
    """``(init, run_epochs, train)`` for one variant; vmap them over a grid.

    - ``init(hp) -> state``: parameters and optimizer from ``hp["seed"]``.
    - ``run_epochs(state, hp, data, num_epochs) -> (state, metrics)``: the next
      ``num_epochs`` (static) epochs; metrics stacked per epoch.
    - ``train(hp, data) -> (state, metrics)``: the whole run.

    ``data`` comes from :func:`train_arrays`, shared by all variants.
    """
    model = make_model(cfg)
    optimizer = _optimizer(cfg.optimizer)

    def init(hp: PyTree) -> PyTree:
        k_init, k_run = jax.random.split(jax.random.key(hp["seed"]))
        params = model.init(k_init, jnp.zeros((1, cfg.window, cfg.num_channels)))["params"]
        return {
            "params": params,
            "opt": optimizer(hp["lr"]).init(params),
            "key": jax.random.key_data(k_run),
            "epoch": jnp.zeros((), jnp.int32),
            "alive": jnp.ones((), jnp.bool_),
        }

    def step(state, hp, data, idx_B, target_N):
        x = data["x"][idx_B]
        y = data["x"][target_N[idx_B]]
        sensitive = data["sensitive"][idx_B]
        weight = jnp.where(sensitive, hp["sensitive_weight"], 1.0)

        def loss_fn(params):
            x_hat = model.apply({"params": params}, x)
            return losses.mse(y, x_hat, weight), x_hat

        (loss, x_hat), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        updates, opt = optimizer(hp["lr"]).update(grads, state["opt"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        # Sums and counts, so the epoch's MSEs are over windows, not means of batch means.
        sq_B = jnp.mean(jnp.square(y - x_hat), axis=(1, 2))
        sums = {
            "sq_sensitive": jnp.sum(sq_B * sensitive),  # sensitive windows vs neutral targets
            "n_sensitive": jnp.sum(sensitive).astype(jnp.float32),
            "sq_kept": jnp.sum(sq_B * ~sensitive),  # everything else vs itself
            "n_kept": jnp.sum(~sensitive).astype(jnp.float32),
        }
        return {**state, "params": params, "opt": opt}, {"loss": loss, **sums}

    def one_epoch(state, hp, data):
        n = data["x"].shape[0]
        iterations = max(n // cfg.batch_size, 1)
        k_targets, k_epochs = jax.random.split(jax.random.wrap_key_data(state["key"]))
        epoch_key = jax.random.fold_in(k_epochs, state["epoch"])
        draw = state["epoch"] if cfg.resample else 0
        target_N = draw_targets(data, jax.random.fold_in(k_targets, draw))
        order = jax.random.permutation(epoch_key, n)
        order = jnp.resize(order, (iterations * cfg.batch_size,))  # wraps when n < batch

        def body(s, idx_B):
            return step(s, hp, data, idx_B, target_N)

        new_state, steps = jax.lax.scan(body, state, order.reshape(iterations, cfg.batch_size))
        sums = jax.tree.map(jnp.sum, steps)
        metrics = {
            "loss": jnp.mean(steps["loss"]),
            "mse_sensitive": sums["sq_sensitive"] / jnp.maximum(sums["n_sensitive"], 1),
            "mse_kept": sums["sq_kept"] / jnp.maximum(sums["n_kept"], 1),
        }
        # A diverged variant keeps its last finite state and stops (the others are unharmed).
        leaves = jax.tree.leaves(new_state["params"])
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in leaves]))
        alive = state["alive"] & finite & jnp.isfinite(metrics["loss"])
        new_state = jax.tree.map(lambda a, b: jnp.where(alive, b, a), state, new_state)
        new_state = {**new_state, "epoch": state["epoch"] + 1, "alive": alive}
        return new_state, metrics | {"alive": alive}

    def run_epochs(state, hp, data, num_epochs: int):
        return jax.lax.scan(lambda s, _: one_epoch(s, hp, data), state, None, length=num_epochs)

    def train(hp, data):
        return run_epochs(init(hp), hp, data, cfg.epochs)

    return init, run_epochs, train


# ----------------------------------------------------------------------------- metrics


def replacement_metrics(
    y_true_N: np.ndarray, y_pred_N: np.ndarray, activities: Sequence[str], roles: Roles
) -> dict[str, Any]:
    """How well a release hides the sensitive activities, by an activity classifier's output.

    - ``sensitive_recall[a]``: share of activity ``a``'s windows still predicted ``a``;
    - ``sensitive_as_neutral``: share of sensitive windows predicted as a neutral
      activity (the replacement worked: should approach 1);
    - ``required_macro_f1``: macro-F1 over the required activities (each class's F1
      over all windows, so sensitive windows predicted as required count against it);
      ``required_accuracy``: the slides' utility, the required label is still the argmax;
    - ``privacy_gap``: the slides' ``|P(s | x') - random guess|`` for s = "the window is
      of a sensitive activity", with P the classifier's balanced accuracy at telling
      sensitive from other windows and 1/2 the guess: ``|detected - false_alarm| / 2``
      (0 = indistinguishable, 1/2 = raw-like).

    Values are NaN where a role has no windows.
    """
    y_true_N, y_pred_N = np.asarray(y_true_N), np.asarray(y_pred_N)
    roles.check_present(activities, "the evaluated windows")
    ids = {a: i for i, a in enumerate(activities)}
    role_ids = {r: [ids[a] for a in getattr(roles, r)] for r in roles.to_json()}

    def mean(mask: np.ndarray) -> float:
        return float(mask.mean()) if mask.size else float("nan")

    is_sens = np.isin(y_true_N, role_ids["sensitive"])
    pred_sens = np.isin(y_pred_N, role_ids["sensitive"])
    is_req = np.isin(y_true_N, role_ids["required"])
    is_neutral = np.isin(y_true_N, role_ids["neutral"])
    pred_neutral = np.isin(y_pred_N, role_ids["neutral"])
    recall = {a: mean(y_pred_N[y_true_N == i] == i) for a, i in ids.items()}
    f1 = []
    for i in role_ids["required"]:
        tp = np.sum((y_true_N == i) & (y_pred_N == i))
        wrong = np.sum((y_true_N == i) != (y_pred_N == i))  # false positives + negatives
        f1.append(2 * tp / (2 * tp + wrong) if 2 * tp + wrong else float("nan"))
    detected, false_alarm = mean(pred_sens[is_sens]), mean(pred_sens[~is_sens])
    return {
        "sensitive_recall": {a: recall[a] for a in roles.sensitive},
        "sensitive_as_neutral": mean(pred_neutral[is_sens]),
        "sensitive_detected": detected,
        "false_alarm": false_alarm,
        "privacy_gap": abs(detected - false_alarm) / 2,
        "required_macro_f1": float(np.nanmean(f1)) if not np.isnan(f1).all() else float("nan"),
        "required_accuracy": mean(y_pred_N[is_req] == y_true_N[is_req]),
        "neutral_kept": mean(pred_neutral[is_neutral]),
        "recall": recall,
        "windows": {
            "required": int(is_req.sum()),
            "sensitive": int(is_sens.sum()),
            "neutral": int(is_neutral.sum()),
        },
    }
