"""Discovery on the LPM's embeddings and predictions: mechanisms of action, gene-gene networks."""
