"""Fine-tuning a trained model on a user's own imagery, from coarse labels over areas they draw."""
