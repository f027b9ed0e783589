"""Files written whole or not at all: per-process temporary names, stale-temporary cleaning, one-line errors.

Several processes may share one output folder (two terminals, or questions split across
processes). Every writer therefore uses a temporary name of its own, which also says who owns
it (host and process id), so that a later run removes only the debris of processes that are gone.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
_TEMP = re.compile(r"^\.(?P<stem>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.(?P<token>[0-9a-f]{8})\.tmp(?P<ext>\.\w+)?$")
# A temporary of another host is only judged by its age: its owner's liveness cannot be checked from here.
FOREIGN_TEMP_MAX_AGE_S = 24 * 3600


class WriteError(RuntimeError):
    """A result could not be written (disk full, permissions, a file where a folder belongs).

    Nothing half-written is left; the message says what was wrong and what to do."""


def temp_path(directory: Path, stem: str, ext: str = "") -> Path:
    """A fresh temporary name in `directory`, unique to this process and naming its owner."""
    return Path(directory) / f".{stem}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}.tmp{ext}"


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows; ask the kernel instead
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def owner_gone(path: Path) -> bool:
    """True when `path` is a temporary whose writing process no longer exists."""
    m = _TEMP.match(path.name)
    if not m:
        return False
    if m["host"] == _HOST:
        return not pid_alive(int(m["pid"]))
    try:
        return time.time() - path.lstat().st_mtime > FOREIGN_TEMP_MAX_AGE_S
    except OSError:
        return False


def remove(path: Path) -> None:
    """Remove a file, link or folder, whichever it is; missing is fine."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def clean_dead_temporaries(root: Path, recursive: bool = True) -> list[Path]:
    """Remove the temporaries under root whose owners are dead; those of live processes are left alone."""
    root = Path(root)
    if not root.is_dir():
        return []
    removed = []
    # os.walk, unlike Path.rglob, shrugs off folders that other processes rename away mid-walk.
    for top, dirs, files in os.walk(root):
        temporaries = [n for n in dirs + files if _TEMP.match(n)]
        dirs[:] = [d for d in dirs if d not in temporaries]     # never descend into one
        for name in temporaries:
            p = Path(top) / name
            if owner_gone(p):
                remove(p)
                removed.append(p)
        if not recursive:
            break
    return removed


class NotRegular(ValueError):
    """A path that should be a data file is a folder, pipe, socket or device (kind says which)."""

    def __init__(self, path: Path, kind: str):
        super().__init__(f"{Path(path).name} is {kind}, not a regular file")
        self.kind = kind


def file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "not a regular file"


def open_regular(path: Path):
    """path opened for binary reading when it is a regular file (a link to one is followed); NotRegular for
    anything else, decided without reading from it: a named pipe would block a reader for ever, a device never
    end. Checked before opening (opening a socket fails, a pipe may block) and again on what was opened."""
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode):
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            return os.fdopen(fd, "rb")
        os.close(fd)
    raise NotRegular(path, file_kind(mode))


def read_regular(path: Path) -> bytes:
    """The bytes of a regular file (open_regular)."""
    with open_regular(path) as f:
        return f.read()


def describe_os_error(e: OSError) -> str:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    return e.strerror or str(e)


def write_error(what: str, path: Path, e: OSError, hint: str = "") -> WriteError:
    """The one-line error for a failed write of `what` to `path`, with what to do about it."""
    reason = describe_os_error(e)
    if not hint:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "free disk space, then run the same command again: finished results are reused"
        elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            hint = "make it writable or choose another --out DIR"
        elif e.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
            hint = "a file stands where a folder belongs (or the reverse): remove it or choose another --out DIR"
        else:
            hint = "fix that or choose another --out DIR, then run the same command again"
    return WriteError(f"could not write {what} to {path}: {reason}; nothing partial was kept. {hint[0].upper()}{hint[1:]}.")


def write_atomically(path: Path, write, what: str) -> Path:
    """Call write(tmp) for a per-process temporary beside `path`, then rename it into place.

    A failure removes the temporary and raises WriteError; an interrupt removes it and re-raises."""
    path = Path(path)
    tmp = temp_path(path.parent, path.name)
    try:
        write(tmp)
        if _INTERRUPTED:  # a Ctrl-C that a library swallowed: the file may be incomplete
            raise KeyboardInterrupt
        os.replace(tmp, path)
    except OSError as e:
        remove(tmp)
        raise write_error(what, path, e) from e
    except BaseException:
        remove(tmp)
        raise
    return path


@contextmanager
def interrupt_guard() -> Iterator[None]:
    """Make Ctrl-C stick: a SIGINT during the block raises KeyboardInterrupt at its end even when
    code in between swallowed the first one (C callbacks, __del__ methods and the like do)."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield  # SIGINT ignored or handled by someone else (a notebook, a test runner): leave it alone
        return
    def handler(signum, frame):
        _INTERRUPTED.append(signum)
        raise KeyboardInterrupt

    _INTERRUPTED.clear()
    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        hit = bool(_INTERRUPTED)
        _INTERRUPTED.clear()
    if hit:
        raise KeyboardInterrupt


_INTERRUPTED: list[int] = []   # SIGINTs seen inside interrupt_guard: no file is put in place after one
