"""Image side of training: transforms, batch mixing, sampling, the decoded-image cache and datasets."""
