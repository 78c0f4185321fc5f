"""Training: the loop, run folders, the frozen-backbone fast path and k-fold."""
