"""Lock files: one process at a time trains a run of a shared output folder.

Shards of a comparison (`compare(shard=)`, `kerasimb compare --shard K/N`) started at once on
one output folder, on one machine or on several that share it, must never train the same run.
Each run is claimed by a lock file, `runs/<method>/seed<seed>.lock`, created with
`O_CREAT | O_EXCL` (atomic, also on NFS v3 and later) and holding its owner's process id, host
name and a random token. While the owner trains, a heartbeat thread touches the file's
modification time every `heartbeat` seconds. A lock is *stale*, and may be taken over, when

- it has not been touched for `stale_after` seconds (its owner is gone or hung, on any host),
  or
- its owner is a process of this host that no longer runs (a killed shard rerun on the same
  machine takes its run back at once, without waiting for the timeout).

Taking a stale lock over is itself guarded by a second file, `<lock>.takeover` (also created
with `O_EXCL`), so that two processes finding the same stale lock never both take it. The owner
removes its lock when it is done (`release`), whatever the outcome; a process killed with
SIGKILL (or SIGTERM, which skips Python's cleanup) leaves it, which is what the rules above are
for.

Example:

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "seed0.lock")
>>> first, second = RunLock(path), RunLock(path)
>>> first.acquire(), second.acquire()
(True, False)
>>> second.owner()["pid"] == os.getpid()
True
>>> first.release()
>>> second.acquire()
True
>>> second.release()
"""

import json
import os
import secrets
import socket
import threading
import time

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.validation import check_float

__all__ = ["HEARTBEAT", "STALE_AFTER", "RunLock", "RunLockHeld"]

# A lock untouched for this long is stale: its owner would have refreshed it 20 times.
STALE_AFTER = 600.0
HEARTBEAT = 30.0
# A takeover guard lives for milliseconds; one older than this was left by a killed process.
_GUARD_STALE_AFTER = 60.0

_HELD = set()  # the tokens of the locks this process holds
_HELD_LOCK = threading.Lock()


@kerasimb_export("kerasimb.runs.RunLockHeld", serializable=False)
class RunLockHeld(RuntimeError):
    """Raised by `with RunLock(path):` when another live process holds the lock (its message
    names the lock file and who holds it)."""


def _host():
    return socket.gethostname()


def process_alive(pid):
    """Whether process `pid` of this host still runs (a zombie, killed but not yet reaped by
    its parent, counts as gone). On Windows, where a process cannot be probed without opening
    it, every process counts as alive (the lock then goes stale by its timeout only).

    >>> process_alive(os.getpid())
    True
    """
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process, which runs
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


@kerasimb_export("kerasimb.runs.RunLock", serializable=False)
class RunLock:
    """A lock file claiming one run (or any one-at-a-time job) of a shared folder.

    Args:
        path: str or path-like. The lock file (its folder is created if needed).
        stale_after: float > 0. Seconds without a heartbeat after which the lock is stale and
            may be taken over. Defaults to `STALE_AFTER` (600).
        heartbeat: float > 0. Seconds between two touches of the file while it is held; must
            be shorter than `stale_after`. Defaults to `HEARTBEAT` (30).

    Attributes:
        path: str, the lock file.
        took_over: `None`, or why the lock was stale when `acquire` took it over (a str).
        lost: bool. The heartbeat found the file gone or owned by another process (which
            judged it stale, e.g. after this process stalled for `stale_after` seconds).

    `acquire()` returns whether the lock is now held; `release()` removes it. As a context
    manager it raises `RunLockHeld` when another live process holds it.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "job.lock")
    >>> with RunLock(path, stale_after=60, heartbeat=5) as lock:
    ...     os.path.exists(path), lock.held
    (True, True)
    >>> os.path.exists(path)
    False
    """

    def __init__(self, path, stale_after=STALE_AFTER, heartbeat=HEARTBEAT):
        self.path = os.fspath(path)
        self.stale_after = check_float(stale_after, "stale_after", minimum=0.0,
                                       min_inclusive=False)
        self.heartbeat = check_float(heartbeat, "heartbeat", minimum=0.0, min_inclusive=False)
        if self.heartbeat >= self.stale_after:
            raise ValueError(
                "Invalid value received for argument `heartbeat`. Expected fewer seconds than "
                f"`stale_after` ({self.stale_after:g}), or a live owner's lock would go stale. "
                f"Received: heartbeat={heartbeat!r}")
        self.took_over = None
        self.lost = False
        self._token = None
        self._stop = None
        self._thread = None

    @property
    def held(self):
        """Whether this object holds the lock (acquired and not released)."""
        return self._token is not None

    def owner(self):
        """The lock file's contents (`{"pid", "host", "token", "created"}`), `{}` while its
        creator has not written them yet, or `None` when there is no lock file."""
        try:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return None
        except OSError:
            return {}
        try:
            info = json.loads(text)
        except ValueError:
            return {}
        return info if isinstance(info, dict) else {}

    def age(self):
        """Seconds since the lock file was last touched, or `None` when there is none."""
        try:
            return max(0.0, time.time() - os.path.getmtime(self.path))
        except OSError:
            return None

    def stale_reason(self, info=None):
        """Why the current lock file is stale (a str), or `None` when it is not (or there is
        none). `info`: its contents, when already read (`owner()`)."""
        info = self.owner() if info is None else info
        age = self.age()
        if info is None or age is None:
            return None
        if age > self.stale_after:
            return f"no heartbeat for {age:.0f} s (stale after {self.stale_after:g} s)"
        pid, host = info.get("pid"), info.get("host")
        if isinstance(pid, int) and host == _host():
            if pid == os.getpid():
                with _HELD_LOCK:
                    mine = info.get("token") in _HELD
                if not mine:  # left by an earlier process that had this process id
                    return f"left by an earlier process {pid} on {host}"
            elif not process_alive(pid):
                return f"its process {pid} on {host} is gone"
        return None

    def acquire(self):
        """Claims the lock: creates the file, or takes over a stale one. Returns `True` when
        the lock is now held by this object (also when it already was), `False` when another
        live process holds it."""
        if self.held:
            return True
        self.took_over = None
        if self._create():
            return True
        info = self.owner()
        if info is None:  # released meanwhile
            return self._create()
        reason = self.stale_reason(info)
        if reason is None:
            return False
        if self._take_over():
            self.took_over = reason
            return True
        return False

    def _create(self):
        """Creates the lock file (and its folder) if there is none (`O_EXCL`); starts the
        heartbeat."""
        folder = os.path.dirname(os.path.abspath(self.path))
        for attempt in range(5):  # another process may remove the folder left empty meanwhile
            os.makedirs(folder, exist_ok=True)
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                break
            except FileExistsError:
                return False
            except FileNotFoundError:
                if attempt == 4:
                    raise
        token = secrets.token_hex(8)
        info = {"pid": os.getpid(), "host": _host(), "token": token,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        with _HELD_LOCK:
            _HELD.add(token)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(info, f)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            with _HELD_LOCK:
                _HELD.discard(token)
            try:
                os.remove(self.path)
            except OSError:
                pass
            raise
        self._token, self.lost = token, False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {self.path}",
                                        daemon=True)
        self._thread.start()
        return True

    def _take_over(self):
        """Replaces a stale lock by this object's, under the `<lock>.takeover` guard."""
        guard = self.path + ".takeover"
        try:
            os.close(os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:  # another process is taking it over now
            try:
                if time.time() - os.path.getmtime(guard) > _GUARD_STALE_AFTER:
                    os.remove(guard)  # left by a process killed while taking over
            except OSError:
                pass
            return False
        try:
            info = self.owner()  # judged again under the guard
            if info is not None and self.stale_reason(info) is None:
                return False
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
            return self._create()
        finally:
            try:
                os.remove(guard)
            except OSError:
                pass

    def _mine(self):
        info = self.owner()
        return info is not None and info.get("token") == self._token

    def _beat(self):
        stop = self._stop
        while not stop.wait(self.heartbeat):
            if not self._mine():
                self.lost = True
                return
            try:
                os.utime(self.path)
            except OSError:
                self.lost = True
                return

    def touch(self):
        """Refreshes the lock's modification time now (the heartbeat does it every
        `heartbeat` seconds). Returns whether the lock is still this object's."""
        if not self.held or not self._mine():
            return False
        try:
            os.utime(self.path)
        except OSError:
            return False
        return True

    def release(self):
        """Stops the heartbeat and removes the lock file if it is still this object's."""
        if not self.held:
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        try:
            if self._mine():
                os.remove(self.path)
        except OSError:
            pass
        with _HELD_LOCK:
            _HELD.discard(self._token)
        self._token, self._thread, self._stop = None, None, None

    def describe(self):
        """Who holds the lock, for messages: `"process 123 on host-a, touched 4 s ago"`."""
        info, age = self.owner(), self.age()
        if info is None or age is None:
            return "nobody"
        who = (f"process {info['pid']} on {info.get('host', '?')}" if "pid" in info
               else "a process")
        return f"{who}, touched {age:.0f} s ago"

    def __enter__(self):
        if not self.acquire():
            raise RunLockHeld(f"{self.path} is held by {self.describe()}")
        return self

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        return f"RunLock({self.path!r}, held={self.held})"
