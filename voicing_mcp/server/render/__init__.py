"""What the model reads: the result budget and error text (``results``), call records as results (``shaping``),
what fits and how to get the rest (``paging``), a dial's preview and result (``preview``), reconciliation's
arithmetic and reports (``reconcile_summary``, ``reports``). No tool registration here."""
