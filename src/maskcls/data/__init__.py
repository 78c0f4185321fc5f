"""Data layer: reading the competition layout, relabeling, splits, importers, EDA. No torch here."""
