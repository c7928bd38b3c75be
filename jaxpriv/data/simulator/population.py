"""Who the simulated subjects are: MotionSense's 24 public profiles, or more."""

from __future__ import annotations

import numpy as np

from jaxpriv.data.dataset import Subject

# The real MotionSense subjects table (public, from the dataset's README):
# (weight kg, height cm, age, gender 1 = male / 0 = female) for codes 1..24.
MOTIONSENSE_PROFILES: tuple[tuple[int, int, int, int], ...] = (
    (102, 188, 46, 1), (72, 180, 28, 1), (48, 161, 28, 0), (90, 176, 31, 1),
    (48, 164, 23, 0), (76, 180, 28, 1), (62, 175, 30, 0), (52, 161, 24, 0),
    (93, 190, 32, 1), (72, 164, 31, 0), (70, 178, 24, 1), (60, 167, 33, 1),
    (60, 178, 33, 1), (70, 180, 35, 1), (70, 185, 33, 1), (96, 172, 29, 0),
    (76, 180, 26, 1), (54, 164, 26, 0), (78, 164, 28, 0), (88, 180, 25, 1),
    (52, 165, 24, 1), (100, 186, 31, 1), (68, 170, 25, 0), (74, 173, 18, 0),
)  # fmt: skip


def make_population(n_users: int, seed: int) -> dict[str, Subject]:
    """Subjects ``"1".."n"``: the first ``n`` public profiles, then sampled ones.

    Beyond 24, subjects alternate gender and draw height from sex-specific
    adult distributions, weight from a BMI distribution and age from 18-60,
    so a 100-user population keeps realistic attribute correlations.
    """
    if n_users < 1:
        raise ValueError(f"n_users must be >= 1, got {n_users}")
    rng = np.random.default_rng([seed, 0x5EED])
    subjects = {}
    for i in range(n_users):
        if i < len(MOTIONSENSE_PROFILES):
            weight, height, age, gender = MOTIONSENSE_PROFILES[i]
        else:
            gender = i % 2
            height = round(float(rng.normal(177.0, 7.0) if gender else rng.normal(164.0, 6.5)))
            bmi = float(np.clip(rng.normal(24.0, 3.2), 17.5, 38.0))
            weight = round(bmi * (height / 100.0) ** 2)
            age = int(rng.integers(18, 61))
        subjects[str(i + 1)] = Subject(
            gender=int(gender), age=float(age), height=float(height), weight=float(weight)
        )
    return subjects
