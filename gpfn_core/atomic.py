"""Files that are either whole or absent: every output gpfn writes goes through here.

An output is written under a temporary name beside it (``.NAME.tmp<pid>...``, so the
rename stays on one filesystem) and published in one step when complete.  A process
killed mid-write leaves only its temporary file, which the next writer of the same
output removes (:func:`remove_stale`: the pid in its name is gone).  Without
``overwrite`` a file is published by a hard link, which fails if the output appeared
meanwhile: of two runs writing one output, one wins and the other gets a clear error.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from gpfn_core.errors import GpfnError


def temp_path(path: str | Path, suffix: str = "") -> Path:
    """The temporary name this process writes ``path`` under."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp{os.getpid()}{suffix}")


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on this host) and is not a zombie: a killed process whose
    parent has not reaped it yet (an orphan waits for init) still answers ``kill(pid, 0)`` but
    will never write again."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    except OSError:
        return False
    try:  # /proc/PID/stat: "pid (comm) state ...", comm may hold spaces and parentheses
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): the process exists


def remove_stale(path: str | Path) -> int:
    """Remove temporary files or folders of ``path`` left by processes that are gone; returns
    how many.  A live writer's temporary file is left alone."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.tmp(\d+)")
    removed = 0
    for p in path.parent.glob(f".{path.name}.tmp*") if path.parent.is_dir() else []:
        m = pattern.match(p.name)
        if not m or int(m.group(1)) == os.getpid() or alive(int(m.group(1))):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed += 1
    return removed


def publish(tmp: Path, path: Path, overwrite: bool) -> Path:
    """Put the complete ``tmp`` at ``path`` in one step (a file or a folder).  Without
    ``overwrite`` an existing ``path`` (also one that appeared meanwhile) is an error and
    ``tmp`` is removed."""
    try:
        if tmp.is_dir():
            if path.exists():
                if not overwrite:
                    raise FileExistsError
                old = temp_path(path, ".old")
                os.replace(path, old)  # a folder cannot be replaced in one step: move the old one aside first
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, path)
        elif overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if path exists, whoever made it
            tmp.unlink()
    except FileExistsError:
        raise GpfnError(f"{path}: already exists (another run may have written it meanwhile; use --force to "
                        f"replace it)") from None
    except OSError as exc:
        if tmp.is_dir() and not overwrite and path.exists():
            raise GpfnError(f"{path}: already exists (another run may have written it meanwhile; use --force "
                            f"to replace it)") from None
        raise GpfnError(f"{path}: could not be written ({exc.strerror or exc})") from None
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
    return path
