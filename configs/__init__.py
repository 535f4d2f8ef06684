"""Named experiment configurations for training and evaluation."""
