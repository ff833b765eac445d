from monitor.store.protocol import StoreBackend
from monitor.store.sqlite import Store

__all__ = ["Store", "StoreBackend"]
