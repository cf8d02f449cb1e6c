"""A map against a reference: confusion matrix and metrics, evaluate, and the HTML report."""
