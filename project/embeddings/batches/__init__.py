"""Stage 7, batches: the batch lane, a job's groups as Batch API batches at half the price.

``lane.py`` picks the lane; ``forming.py`` cuts groups into batches; ``steps.py`` runs each
remote step, recorded before and after; ``driver.py`` moves every batch one step per poll;
``results.py`` stores a finished batch's lines through the sync lane's write path.
"""
