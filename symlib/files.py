"""Writing files safely: whole or not at all, with the user's permissions.

``atomic_write`` writes to a temporary file in the target's folder and renames it over the target,
so a reader (or a killed run) never sees half a file. ``tempfile.mkstemp`` creates files with mode
0600 whatever the umask; the finished file is given the mode an ordinary ``open(path, "w")`` would
have (0666 minus the umask), so results, caches and executed chapters stay readable by whoever may
read them. ``require_writable`` checks a folder before work whose result must be written there.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "require_writable", "default_file_mode"]

_UMASK_LOCK = threading.Lock()


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0o666 without the process's umask bits."""
    with _UMASK_LOCK:  # the umask can only be read by setting it; set it straight back
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def _check_path(name: str, value) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or an os.PathLike, got {value!r} ({type(value).__name__})")
    return Path(value)


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)``, then rename the temporary file over ``path``; return ``path``.

    Readers see the old file or the whole new one. If ``write`` raises, ``path`` is untouched and
    the temporary file is removed. The new file gets the umask's mode (see the module docstring).
    """
    path = _check_path("path", path)
    if not path.name or path.is_dir():
        raise ValueError(f"path must name a file, got {str(path)!r}, a folder")
    if not callable(write):
        raise TypeError(f"write must be a callable that writes the file at the path it is given, got "
                        f"{type(write).__name__}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def require_writable(folder: str | os.PathLike, name: str = "cache_dir") -> Path:
    """Create ``folder`` if needed and check that a file can be written in it; return it as a Path.

    Raises ValueError naming ``name`` before any work is done, rather than losing finished work
    to a failed write afterwards.
    """
    folder = _check_path(name, folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-probe.")
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise ValueError(f"{name} must be a writable folder, got {str(folder)!r} ({exc.strerror or exc})") from exc
    return folder
