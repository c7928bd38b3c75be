"""One module per method: each registers ``restore(run_dir, step) -> TransformSet``
with :func:`eval.transforms.register_restorer` under the method name its checkpoints carry.

Importing this package registers them all (:func:`eval.transforms.load_transforms` does).
"""

from eval.restorers import baselines, compound, dysan, gen, msda, rae  # noqa: F401
