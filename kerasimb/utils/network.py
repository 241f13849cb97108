"""A short network check before a download, so that no network fails within seconds.

Libraries that download (Keras' ImageNet weights, TensorFlow Datasets) retry for minutes when
there is no network. `check_connection` opens one TCP connection to the download host with a
short timeout first; kerasimb uses the network only when asked to (`weights="imagenet"`,
`download=True`) and calls it before.

Example:

>>> import socket
>>> server = socket.socket()
>>> server.bind(("127.0.0.1", 0))
>>> server.listen()
>>> check_connection("127.0.0.1", server.getsockname()[1], timeout=1.0)
>>> server.close()
"""

import socket

from kerasimb.api_export import kerasimb_export

__all__ = ["check_connection"]


@kerasimb_export("kerasimb.utils.check_connection", serializable=False)
def check_connection(host, port=443, timeout=3.0):
    """Opens (and closes) a TCP connection to `host`:`port` within `timeout` seconds.

    Args:
        host: str. The host name or address (e.g. `"storage.googleapis.com"`).
        port: int. Defaults to `443`.
        timeout: float > 0. Seconds to wait for the connection. Defaults to `3.0`.

    Raises:
        ConnectionError: no connection (no network, an unknown host, a refused or timed-out
            connection); the message names the host, the port and the reason.

    Example:

    >>> check_connection("host.invalid", timeout=1.0)
    Traceback (most recent call last):
    ...
    ConnectionError: host.invalid:443 cannot be reached within 1 s (...)
    """
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as error:
        raise ConnectionError(f"{host}:{port} cannot be reached within {timeout:g} s "
                              f"({error})") from None
