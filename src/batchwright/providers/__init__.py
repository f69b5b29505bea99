"""Wire protocols behind one small interface: the engine talks to :class:`Provider` only."""

from batchwright.providers.base import DirectResponse, Provider, RemoteBatch, RemoteFile

__all__ = ["DirectResponse", "Provider", "RemoteBatch", "RemoteFile"]
