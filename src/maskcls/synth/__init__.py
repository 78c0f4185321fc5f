"""Synthesis that needs faces: masks drawn on photos (``synth-masks``), the public training set built from UTKFace, and
galleries of the preprocessing. It sits above :mod:`maskcls.data` and :mod:`maskcls.faces`, which never import it."""
