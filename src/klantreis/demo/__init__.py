"""The demo: a deterministic, believable Dutch webshop ("Huis & Haard") and its journey
configuration (``journey.toml``).

- ``generator.generate_demo(orders, seed)``: batches of canonical events (Arrow tables);
- ``runner.run_demo(app, orders, seed)``: generate and ingest, returning a ``DemoSummary``;
- ``orders`` (fulfilment and the carriers' reliability), ``contacts`` (contact reasons and
  channels), ``feedback`` (survey scores, reviews, social), ``texts``/``templates`` (what
  customers write), ``blocks`` (numpy columns -> Arrow), ``clock`` (the period and "now").
"""
