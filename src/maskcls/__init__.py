"""maskcls: mask status × gender × age-band classification."""

__version__ = "0.1.0"
