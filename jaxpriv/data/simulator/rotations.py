"""Rotation helpers with Core Motion's conventions (numpy, batched over time).

Attitude ``(roll, pitch, yaw)`` means ``R = Rz(yaw) @ Rx(pitch) @ Ry(roll)``,
where ``R`` maps device coordinates to the reference frame (z up). Then
``gravity = R.T @ (0, 0, -1)``, which reproduces MotionSense rows, e.g.
roll -2.544, pitch -1.251 -> gravity (-0.177, 0.949, 0.260).
"""

from __future__ import annotations

import numpy as np


def rot_x(a: np.ndarray) -> np.ndarray:
    """Rotations about x, shape ``a.shape + (3, 3)``."""
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], axis=-1).reshape(*np.shape(a), 3, 3)


def rot_y(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, z, s, z, o, z, -s, z, c], axis=-1).reshape(*np.shape(a), 3, 3)


def rot_z(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], axis=-1).reshape(*np.shape(a), 3, 3)


def attitude_to_matrix(roll: np.ndarray, pitch: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    return rot_z(yaw) @ rot_x(pitch) @ rot_y(roll)


def matrix_to_attitude(R: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`attitude_to_matrix` (pitch in [-pi/2, pi/2])."""
    pitch = np.arcsin(np.clip(R[..., 2, 1], -1.0, 1.0))
    roll = np.arctan2(-R[..., 2, 0], R[..., 2, 2])
    yaw = np.arctan2(-R[..., 0, 1], R[..., 1, 1])
    return roll, pitch, yaw


def gravity_from_attitude(roll: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """Unit gravity in device coordinates, in g: ``R.T @ (0, 0, -1)``."""
    cp = np.cos(pitch)
    return np.stack([cp * np.sin(roll), -np.sin(pitch), -cp * np.cos(roll)], axis=-1)


def angular_velocity(R: np.ndarray, dt: float) -> np.ndarray:
    """Body-frame angular velocity (rad/s) of a rotation sequence ``(T, 3, 3)``.

    ``omega^ = R^T dR/dt``; the derivative is a central difference, so the
    sequence should be sampled well above its bandwidth (the simulator works
    at 4x the output rate).
    """
    dR = np.gradient(R, dt, axis=0)
    W = np.swapaxes(R, -1, -2) @ dR
    W = 0.5 * (W - np.swapaxes(W, -1, -2))  # project onto skew-symmetric matrices
    return np.stack([W[..., 2, 1], W[..., 0, 2], W[..., 1, 0]], axis=-1)
