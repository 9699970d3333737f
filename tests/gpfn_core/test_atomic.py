import os
import subprocess
import sys

import pytest

from gpfn_core import GpfnError
from gpfn_core.atomic import publish, remove_stale, temp_path


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporaries_of_dead_writers_go_and_live_ones_stay(tmp_path):
    out = tmp_path / "out.csv"
    dead = tmp_path / f".out.csv.tmp{dead_pid()}"
    dead.write_text("half")
    folder = tmp_path / f".out.csv.tmp{dead_pid()}.old"
    folder.mkdir()
    live = tmp_path / f".out.csv.tmp{os.getppid()}"  # a process that exists
    live.write_text("writing")
    other = tmp_path / ".other.csv.tmp1"
    other.write_text("x")
    assert remove_stale(out) == 2
    assert not dead.exists() and not folder.exists() and live.exists() and other.exists()


def test_publish_never_clobbers_without_overwrite(tmp_path):
    out = tmp_path / "out.txt"
    tmp = temp_path(out)
    tmp.write_text("first")
    publish(tmp, out, overwrite=False)
    tmp.write_text("second")
    with pytest.raises(GpfnError, match="already exists"):
        publish(tmp, out, overwrite=False)
    assert out.read_text() == "first" and not tmp.exists()
    tmp.write_text("third")
    publish(tmp, out, overwrite=True)
    assert out.read_text() == "third"
    d = tmp_path / "ds"
    t = temp_path(d)
    t.mkdir()
    (t / "a").write_text("1")
    publish(t, d, overwrite=False)
    t.mkdir()
    (t / "a").write_text("2")
    with pytest.raises(GpfnError, match="already exists"):
        publish(t, d, overwrite=False)
    t.mkdir()
    (t / "a").write_text("3")
    publish(t, d, overwrite=True)
    assert (d / "a").read_text() == "3" and sorted(p.name for p in tmp_path.iterdir()) == ["ds", "out.txt"]


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="zombies are read from /proc")
def test_a_zombie_writer_is_gone(tmp_path):
    """A killed writer not yet reaped (a zombie) holds no file and never writes again: its
    temporary is stale."""
    import time

    from gpfn_core.atomic import alive

    p = subprocess.Popen(["sleep", "0.05"])
    time.sleep(0.5)  # exited, not yet waited for
    assert os.kill(p.pid, 0) is None  # still in the process table
    assert not alive(p.pid)
    assert alive(os.getpid())
    p.wait()
    assert not alive(p.pid)
