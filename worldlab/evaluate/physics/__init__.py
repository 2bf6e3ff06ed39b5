"""Physical consistency on ``bounce``: read the balls back from frames (``reader``), score
them against the true state (``metrics``), and the evaluation section (``section``)."""
