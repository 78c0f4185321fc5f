"""The out-of-distribution evaluation suite: held-out shared photos, re-framed and re-masked, and its scoring.

- :mod:`maskcls.ood.eval_masks`: a second mask renderer (flat textured templates, one projective warp), used only
  for evaluation so that mask F1 stops measuring the training synthesizer's own look.
- :mod:`maskcls.ood.reframe`: tight face chips set into larger frames, recompressed and downscaled.
- :mod:`maskcls.ood.suite`: builds the suite folder from the development hold-out of ``../shared/data``.
- :mod:`maskcls.ood.predictors`: the predictor protocol the suite scores, and runs wrapped as predictors.
- :mod:`maskcls.ood.score`: per-row figures, tables and the report.
"""
