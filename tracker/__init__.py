"""tracker: captures evolution snapshots inside a training run (the half that imports torch)."""
