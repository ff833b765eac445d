from monitor.store.sqlite import Store

__all__ = ["Store"]
