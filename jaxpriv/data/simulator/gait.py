"""A kinematic model of a phone in the front trouser pocket, per activity and user.

The phone's pose is ``R(t) = R_pelvis(t) @ R_thigh(t) @ R_mount`` and its
position follows the hip plus the thigh's swing. Everything Core Motion
reports is derived from that one pose, so the channels agree with each other:
attitude = Euler angles of ``R``; gravity = ``R.T @ (0, 0, -1)``;
rotationRate = body-frame angular velocity of ``R``; userAcceleration = the
position's second derivative in device coordinates, in g, with Core Motion's
sign (the raw accelerometer reads ``gravity + userAcceleration``, i.e. minus
the specific force, -1 g on z when lying flat).

Walking-type activities are sums of harmonics of a stride phase (one stride =
two steps). What the private attributes change, as in real gait:
- cadence falls with height (pendulum legs) and age, and is higher for women;
- swing and bounce amplitudes grow with leg length; impact peaks with weight;
- women show more pelvic rotation and obliquity and a different timing of
  the thigh's and the hip's higher harmonics (waveform shape, not power);
- every user has a stable signature: own amplitude and phase of each
  harmonic per axis and an own pocket placement; every stride varies a little.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.interpolate import CubicSpline

from jaxpriv.data.dataset import Subject
from jaxpriv.data.simulator.rotations import (
    angular_velocity,
    gravity_from_attitude,
    matrix_to_attitude,
    rot_x,
    rot_y,
    rot_z,
)

G = 9.80665
OVERSAMPLE = 4  # kinematics run at 4x the output rate so derivatives are accurate
DEG = np.pi / 180.0

# Device axes in thigh coordinates (thigh frame: x anterior, y left, z up the
# thigh). Phone upside down in the pocket, screen facing forward, as in
# MotionSense, whose standing rows read gravity.y close to +1.
MOUNT_BASE = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclasses.dataclass(frozen=True)
class ActivityTemplate:
    """Population-average kinematics of one activity (degrees, cm, g)."""

    gait: bool
    cadence: float = 1.0  # stride frequency relative to the user's walking one
    thigh_mean: float = 0.0  # mean hip flexion, deg (sit: thigh horizontal)
    thigh: tuple[float, float, float] = (0.0, 0.0, 0.0)  # flexion harmonics 1-3, deg
    thigh_phase: tuple[float, float, float] = (0.0, 0.8, 2.0)
    abduction: tuple[float, float] = (0.0, 0.0)  # harmonics 1-2, deg
    twist: float = 0.0  # internal rotation about the thigh, harmonic 1, deg
    pelvis_yaw: float = 0.0  # pelvic rotation, harmonic 1, deg
    bounce: tuple[float, float, float] = (0.0, 0.0, 0.0)  # vertical hip, harmonics 1, 2, 4, cm
    surge: float = 0.0  # forward hip oscillation, harmonic 2, cm
    sway: float = 0.0  # lateral hip oscillation, harmonic 1, cm
    impact: float = 0.0  # heel-strike peak, g
    speed: float = 0.0  # m/s


TEMPLATES: dict[str, ActivityTemplate] = {
    "wlk": ActivityTemplate(
        gait=True, cadence=1.0, thigh_mean=6.0, thigh=(21.0, 4.0, 1.5), abduction=(4.0, 2.0),
        twist=5.0, pelvis_yaw=5.0, bounce=(0.3, 2.4, 0.25), surge=1.2, sway=2.0, impact=0.35,
        speed=1.3,
    ),
    "dws": ActivityTemplate(
        gait=True, cadence=1.16, thigh_mean=14.0, thigh=(16.0, 6.0, 2.0),
        thigh_phase=(0.0, 1.6, 2.6), abduction=(4.5, 2.5), twist=6.0, pelvis_yaw=4.0,
        bounce=(0.5, 3.2, 0.45), surge=1.6, sway=2.4, impact=0.9, speed=0.7,
    ),
    "ups": ActivityTemplate(
        gait=True, cadence=0.82, thigh_mean=28.0, thigh=(29.0, 5.0, 1.2),
        thigh_phase=(0.0, -0.2, 1.4), abduction=(3.5, 1.5), twist=4.0, pelvis_yaw=3.5,
        bounce=(0.4, 1.8, 0.15), surge=1.8, sway=2.2, impact=0.18, speed=0.55,
    ),
    "jog": ActivityTemplate(
        gait=True, cadence=1.45, thigh_mean=22.0, thigh=(34.0, 7.0, 2.5),
        thigh_phase=(0.0, 1.1, 2.3), abduction=(5.0, 2.5), twist=7.0, pelvis_yaw=6.0,
        bounce=(0.6, 4.8, 0.6), surge=2.0, sway=1.6, impact=1.4, speed=2.8,
    ),
    "sit": ActivityTemplate(gait=False, thigh_mean=84.0),
    "std": ActivityTemplate(gait=False, thigh_mean=2.0),
}  # fmt: skip

# Harmonic components whose amplitude and phase make up a user's signature.
COMPONENTS = (
    "thigh1", "thigh2", "thigh3", "abd1", "abd2", "twist1", "pelvis1",
    "bounce1", "bounce2", "bounce4", "surge2", "sway1",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class UserTraits:
    """Everything stable about how one subject moves and carries the phone."""

    stride_hz: float  # walking stride frequency
    size: float  # amplitude scale from leg length
    impact: float  # impact scale from body weight
    female: float  # +1 female, -1 male, 0 unknown: signs the gender effects
    amplitude: dict[str, float]  # per-component multipliers
    phase: dict[str, float]  # per-component offsets, rad
    activity_phase: dict[str, dict[str, float]]  # per activity, smaller offsets
    mount: tuple[float, float, float]  # habitual pocket placement, rad


def sample_user_traits(subject: Subject, rng: np.random.Generator) -> UserTraits:
    """Draw a user's gait signature from their attributes and the generator."""
    height = subject.height or 170.0
    weight = subject.weight or 70.0
    age = subject.age or 30.0
    female = {0: 1.0, 1: -1.0}.get(subject.gender, 0.0)
    stride_hz = (
        0.93
        * (height / 170.0) ** -0.5
        * (1.0 + 0.02 * female)
        * (1.0 - 0.0015 * (age - 30.0))
        * np.exp(rng.normal(0.0, 0.03))
    )
    amplitude = {c: float(np.exp(rng.normal(0.0, 0.15))) for c in COMPONENTS}
    phase = {c: float(rng.normal(0.0, 0.35)) for c in COMPONENTS}
    activity_phase = {a: {c: float(rng.normal(0.0, 0.12)) for c in COMPONENTS} for a in TEMPLATES}
    # Gender effects: pelvic rotation/obliquity and lateral sway amplitudes,
    # and the timing of the thigh's 2nd and the bounce's 4th harmonics.
    amplitude["pelvis1"] *= 1.0 + 0.22 * female
    amplitude["abd1"] *= 1.0 + 0.15 * female
    amplitude["sway1"] *= 1.0 + 0.10 * female
    phase["thigh2"] += 0.45 * female
    phase["bounce4"] += 0.60 * female
    phase["twist1"] += 0.30 * female
    mount = (
        float(rng.normal(0.0, 25.0 * DEG)),  # around the phone's long axis
        float(rng.normal(0.0, 10.0 * DEG)),
        float(rng.normal(0.0, 10.0 * DEG)),
    )
    return UserTraits(
        stride_hz=float(stride_hz),
        size=float((height / 172.0) ** 0.4),
        impact=float((weight / 70.0) ** 0.35),
        female=female,
        amplitude=amplitude,
        phase=phase,
        activity_phase=activity_phase,
        mount=mount,
    )


def _smooth_noise(
    rng: np.random.Generator, x: np.ndarray, spacing: float, sigma: float
) -> np.ndarray:
    """A cubic spline through N(0, sigma) knots every ``spacing`` along ``x``.

    Smooth (continuous second derivative), so the rotation rates and
    accelerations derived from it stay bounded, unlike a random walk's.
    Along time it is slow noise; along stride count (``spacing`` 1) it is a
    value per stride blended into the next: stride-to-stride variability.
    """
    start = x[0] / spacing
    knots = np.arange(np.floor(start) - 1, np.ceil(x[-1] / spacing) + 2)
    return CubicSpline(knots, rng.normal(0.0, sigma, knots.size))(x / spacing)


def _gait_kinematics(
    traits: UserTraits,
    tpl: ActivityTemplate,
    activity: str,
    t: np.ndarray,
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Angles (rad), hip displacement (m, body frame) and impact pulses of a gait activity."""
    dt = t[1] - t[0]
    freq = traits.stride_hz * tpl.cadence * np.exp(rng.normal(0.0, 0.025))
    freq_t = freq * (1.0 + _smooth_noise(rng, t, 2.0, 0.025))
    phi = 2.0 * np.pi * np.cumsum(freq_t) * dt + rng.uniform(0.0, 2.0 * np.pi)
    common = 1.0 + _smooth_noise(rng, phi / (2 * np.pi), 1.0, 0.06)
    act_phase = traits.activity_phase[activity]

    def harmonic(name: str, k: int, amp: float, base_phase: float = 0.0) -> np.ndarray:
        jitter = _smooth_noise(rng, phi / (2 * np.pi), 1.0, 0.05)
        a = amp * traits.amplitude[name] * traits.size * common * (1.0 + jitter)
        offset = base_phase + traits.phase[name] + act_phase[name] + rng.normal(0.0, 0.05)
        return a * np.cos(k * phi + offset)

    th = tpl.thigh_phase
    angles = {
        "flexion": tpl.thigh_mean
        + harmonic("thigh1", 1, tpl.thigh[0], th[0])
        + harmonic("thigh2", 2, tpl.thigh[1], th[1])
        + harmonic("thigh3", 3, tpl.thigh[2], th[2]),
        "abduction": harmonic("abd1", 1, tpl.abduction[0], 1.2)
        + harmonic("abd2", 2, tpl.abduction[1], 0.4),
        "twist": harmonic("twist1", 1, tpl.twist, -0.7),
        "pelvis_yaw": harmonic("pelvis1", 1, tpl.pelvis_yaw, 1.5),
    }
    angles = {k: v * DEG for k, v in angles.items()}
    cm = 0.01
    hip = np.stack(
        [
            harmonic("surge2", 2, tpl.surge, 0.9) * cm,
            harmonic("sway1", 1, tpl.sway, np.pi / 2) * cm,
            (
                harmonic("bounce1", 1, tpl.bounce[0], 0.5)
                - harmonic("bounce2", 2, tpl.bounce[1], 0.3)
                + harmonic("bounce4", 4, tpl.bounce[2], 1.0)
            )
            * cm,
        ],
        axis=-1,
    )
    impacts = _heel_strikes(phi, t, tpl.impact * traits.impact, rng)
    return angles, hip, impacts


def _heel_strikes(
    phi: np.ndarray, t: np.ndarray, peak_g: float, rng: np.random.Generator
) -> np.ndarray:
    """Vertical acceleration pulses (m/s^2, world frame) at each heel strike.

    The phone's own leg strikes at phase 0, the other leg at pi (attenuated by
    the body). A short upward deceleration peak followed by a small rebound.
    """
    out = np.zeros_like(t)
    for offset, gain in ((0.0, 1.0), (np.pi, 0.55)):
        n_first = np.ceil((phi[0] - offset) / (2 * np.pi))
        n_last = np.floor((phi[-1] - offset) / (2 * np.pi))
        targets = offset + 2 * np.pi * np.arange(n_first, n_last + 1)
        for tk in np.interp(targets, phi, t):
            amp = peak_g * G * gain * np.exp(rng.normal(0.0, 0.12))
            lo, hi = np.searchsorted(t, [tk - 0.1, tk + 0.2])  # the pulse's support only
            u = t[lo:hi] - tk
            pulse = np.exp(-0.5 * (u / 0.018) ** 2) - 0.35 * np.exp(-0.5 * ((u - 0.05) / 0.03) ** 2)
            out[lo:hi] += amp * pulse
    return out


def _still_kinematics(
    tpl: ActivityTemplate, t: np.ndarray, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Postural sway and occasional fidgets of sitting or standing."""
    fidget = np.zeros_like(t)
    for _ in range(rng.poisson(0.08 * (t[-1] - t[0]))):
        centre, width = rng.uniform(t[0], t[-1]), rng.uniform(0.3, 0.8)
        fidget += rng.normal(0.0, 4.0) * np.exp(-0.5 * ((t - centre) / width) ** 2)
    angles = {
        "flexion": tpl.thigh_mean + _smooth_noise(rng, t, 3.0, 1.2) + fidget,
        "abduction": _smooth_noise(rng, t, 3.0, 1.0),
        "twist": _smooth_noise(rng, t, 3.0, 1.0),
        "pelvis_yaw": _smooth_noise(rng, t, 4.0, 2.0),
    }
    angles = {k: v * DEG for k, v in angles.items()}
    hip = np.stack([_smooth_noise(rng, t, 1.0, 0.004) for _ in range(3)], axis=-1)
    return angles, hip, np.zeros_like(t)


def _integrate(x_TxD: np.ndarray) -> np.ndarray:
    """Average over each output period, centred on the pose sample (trapezoid weights)."""
    half = OVERSAMPLE // 2
    weights = np.r_[0.5, np.ones(OVERSAMPLE - 1), 0.5] / OVERSAMPLE
    padded = np.pad(x_TxD, ((half, half), (0, 0)), mode="edge")
    idx = OVERSAMPLE * np.arange(x_TxD.shape[0] // OVERSAMPLE)[:, None] + np.arange(OVERSAMPLE + 1)
    return np.einsum("tkd,k->td", padded[idx], weights)


def simulate_recording(
    traits: UserTraits,
    activity: str,
    duration_s: float,
    rng: np.random.Generator,
    rate_hz: float = 50.0,
) -> np.ndarray:
    """Samples of one recording: ``(T, 12)`` in MotionSense's DeviceMotion column order."""
    if activity not in TEMPLATES:
        raise ValueError(f"unknown activity {activity!r}; known: {sorted(TEMPLATES)}")
    tpl = TEMPLATES[activity]
    n_out = round(duration_s * rate_hz)
    dt = 1.0 / (rate_hz * OVERSAMPLE)
    t = np.arange(n_out * OVERSAMPLE) * dt
    if tpl.gait:
        angles, hip, impacts = _gait_kinematics(traits, tpl, activity, t, rng)
    else:
        angles, hip, impacts = _still_kinematics(tpl, t, rng)

    # Walkers wander a few degrees off their course; a seated or standing body barely turns.
    wander = 6.0 * DEG if tpl.gait else 1.0 * DEG
    heading = rng.uniform(-np.pi, np.pi) + _smooth_noise(rng, t, 3.0, wander)
    pelvis = rot_z(heading + angles["pelvis_yaw"])
    # Thigh flexion swings the thigh forward (a negative rotation about the left axis).
    thigh = rot_y(-angles["flexion"]) @ rot_x(angles["abduction"]) @ rot_z(angles["twist"])
    jitter = rng.normal(0.0, 4.0 * DEG, 3)
    m = np.add(traits.mount, jitter)
    mount = MOUNT_BASE @ rot_y(np.array(m[0])) @ rot_x(np.array(m[1])) @ rot_z(np.array(m[2]))
    R = pelvis @ thigh @ mount

    # Phone position: hip + the pocket's offset on the swinging thigh.
    lever = np.array([0.07, 0.0, -0.19 * traits.size])
    travel = tpl.speed * t[:, None] * np.stack([np.cos(heading), np.sin(heading), 0 * t], axis=-1)
    position = (
        travel
        + np.einsum("tij,tj->ti", pelvis, hip)
        + np.einsum("tij,j->ti", pelvis @ thigh, lever)
    )
    accel = np.gradient(np.gradient(position, dt, axis=0), dt, axis=0)
    accel[:, 2] += impacts
    user_acc = -np.einsum("tji,tj->ti", R, accel) / G
    omega = angular_velocity(R, dt)

    # Decimate: the pose is sampled every OVERSAMPLE steps; rates and accelerations
    # are averaged over the sampling period centred on that pose (a trapezoid),
    # as a sensor integrates, so the channels stay aligned in time.
    roll, pitch, yaw = matrix_to_attitude(R[::OVERSAMPLE])
    # Sensor fusion's attitude error is a slow drift, not white noise (which
    # would imply rotation rates far above the gyroscope's noise).
    t_out = t[::OVERSAMPLE]
    roll, pitch, yaw = (a + _smooth_noise(rng, t_out, 2.0, 0.003) for a in (roll, pitch, yaw))
    yaw = np.angle(np.exp(1j * yaw))  # keep in (-pi, pi]
    gravity = gravity_from_attitude(roll, pitch)
    rotation_rate = (
        _integrate(omega) + rng.normal(0.0, 0.004, 3) + rng.normal(0.0, 0.012, (n_out, 3))
    )
    user_acc = _integrate(user_acc) + rng.normal(0.0, 0.006, (n_out, 3))
    return np.column_stack([roll, pitch, yaw, gravity, rotation_rate, user_acc])
