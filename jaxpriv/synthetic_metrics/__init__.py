"""Metrics that judge synthetic data against real data.

Samples are either **windows** ``(N, T, C)`` (sensor traces) or **rows** ``(N, F)``
(tabular records, e.g. seed 004's network flows: each row is one feature vector). Every
function validates its inputs and raises ``ValueError`` naming the argument (wrong rank,
mismatched sample shapes, NaN/inf, too few samples). What each metric does with windows:

- :func:`oneclass_svm_inliers` (seed 004): a one-class SVM fit on real training vectors
  only, scaled per column with the real training statistics (min-max for the linear
  kernel, standardization for RBF: see its docstring). Windows become vectors through
  :func:`jaxpriv.features.window_features` (``windows_as="features"``, the default:
  amplitude, spread, percentiles, spectrum; insensitive to phase) or flattened
  (``"flat"``: every (time, channel) value is a column, so a shifted copy of a real trace
  can look foreign). Reported: the fraction of synthetic samples called inliers next to
  the fraction of *held-out real* samples called inliers (the reference a perfect
  generator reaches) and of the training samples (about ``1 - nu`` by construction).
  A linear kernel (the seed's choice) draws one half-space, so it accepts almost anything
  on the data's side of it, even far-away noise; an RBF kernel encloses the data and is far
  stricter. Report both.
- :func:`discriminator_test` (seed 000): an :class:`~jaxpriv.nn.sequence_classifier.LSTMClassifier`
  trained to tell real (label 0) from synthetic (label 1) windows; see its docstring.
  :func:`discriminator_sanity` shows the test has power (real vs real ~ 50%, real vs
  Gaussian noise ~ 100%). :func:`feature_discriminator_test` asks the same question of a
  random forest on hand-crafted window features, on the same splits: a second, differently
  blind judge (it sees roughness and spectra at once, but not the order of events).
- :func:`marginal_distances`: per channel (windows: all values of the channel, pooled over
  windows and time) or per column (rows), the two-sample KS statistic and the 1-Wasserstein
  distance (also divided by the real values' std, comparable across channels).
- :func:`correlation_distance`: root-mean-square difference between the real and synthetic
  correlation matrices (windows: channels' Pearson correlation over all time steps pooled,
  optionally between a channel at ``t`` and a channel at ``t + lag``; rows: columns'
  correlation over rows).
- :func:`tstr`: train-on-synthetic, test-on-real activity accuracy next to
  train-on-real, test-on-real (same :class:`~jaxpriv.nn.classifiers.WindowCNN`).
- :func:`closest_record`: distance to the closest training record (DCR) of synthetic
  samples vs of held-out real samples; flags memorisation and counts exact copies.

Accuracies and rates are fractions in ``[0, 1]``.

One module per judge: :mod:`~jaxpriv.synthetic_metrics.oneclass_svm`,
:mod:`~jaxpriv.synthetic_metrics.discriminators`,
:mod:`~jaxpriv.synthetic_metrics.distributions` (marginals and correlations),
:mod:`~jaxpriv.synthetic_metrics.utility` (TSTR) and :mod:`~jaxpriv.synthetic_metrics.dcr`
(closest record); :mod:`~jaxpriv.synthetic_metrics.samples` holds the input checks,
scaling and subsampling they share.
"""
