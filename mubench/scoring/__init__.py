"""Scoring: prediction rows → accuracies with bootstrap CIs (and GRIT for boxes). Pure functions."""
