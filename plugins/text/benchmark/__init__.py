"""``art-ext bench text``: the suite (``suite``), the evaluation of one model (``evaluate``), the
sentiment-flip check of swaps (``sentiment``) and the report (``report``)."""
