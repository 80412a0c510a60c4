"""klantreis: one customer-event log, honest CX metrics, journeys, contact reasons, a live
CX index.

>>> import klantreis
>>> app = klantreis.open(":memory:")
>>> app.store.count()
0
>>> app.close()
"""

from klantreis.app import App, open_app
from klantreis.settings import Settings

__version__ = "0.1.0"
open = open_app  # the documented notebook entry point: klantreis.open(path)

__all__ = ["App", "Settings", "__version__", "open", "open_app"]
