"""Kernel-enforced walls around the process that runs student code (standard library only).

``judge.py`` starts the worker with :func:`preexec` as its ``preexec_fn`` and, where the
platform allows, a :class:`Cgroup`.  What each platform gets (see autograder/README.md,
"What each platform gets"):

* **root, cgroup v2 or v1 with a writable memory controller** (this course's CI; a
  privileged container): a memory cgroup whose limit counts anonymous memory *and* tmpfs/shm
  pages (``memory.max`` / ``memory.limit_in_bytes``; swap too where ``memsw`` exists), a pids
  cgroup (``pids.max``), a network namespace with only a down loopback (no connection to
  anything, 127.0.0.1 included), a mount namespace in which ``/tmp``, ``/var/tmp`` and
  ``/dev/shm`` are private, size-limited tmpfs mounts, and the work folder is a copy inside
  the private ``/tmp``: nothing the submission writes reaches a disk the judge uses;
* **root without a writable cgroup** (a plain Docker container such as Gradescope's, where
  ``unshare`` is allowed): the same namespaces; memory by ``RLIMIT_DATA`` plus the judge's
  RSS polling (tmpfs is bounded by its mount size), processes by ``RLIMIT_NPROC`` for the
  sandbox uid;
* **root, namespaces refused** (seccomp forbids ``unshare``): rlimits only, and the judge's
  RSS polling; ``/dev/shm`` and ``/tmp`` are the host's (bounded per file by ``RLIMIT_FSIZE``);
* **not root** (a developer's machine): no uid change; a user+network namespace when the
  kernel allows unprivileged ones, otherwise nothing but rlimits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import signal
import sys
import time
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000
MS_RDONLY, MS_REMOUNT, MS_BIND = 0x1, 0x20, 0x1000

_libc = None


def _c():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_c().unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    _check(_c().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


# --------------------------------------------------------------------------- cgroups


class Cgroup:
    """A memory (+pids) cgroup for one attempt; ``None`` from :func:`create` when unavailable."""

    def __init__(self, version: int, dirs: list[Path]):
        self.version, self.dirs = version, dirs

    @property
    def memory_dir(self) -> Path:
        return self.dirs[0]

    def join(self, pid: int | None = None) -> None:
        pid = str(pid or os.getpid())
        for d in self.dirs:
            (d / "cgroup.procs").write_text(pid)

    def usage_mb(self) -> float:
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        try:
            return int((self.memory_dir / name).read_text()) / 2**20
        except (OSError, ValueError):
            return 0.0

    def peak_mb(self) -> float:
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int((self.memory_dir / name).read_text()) / 2**20
        except (OSError, ValueError):
            return 0.0

    def oom_kills(self) -> int:
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            for line in (self.memory_dir / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def pids(self) -> list[int]:
        out = set()
        for d in self.dirs:
            try:
                out |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
        return sorted(out)

    def kill_all(self) -> None:
        if self.version == 2:
            try:
                (self.memory_dir / "cgroup.kill").write_text("1")
            except OSError:
                pass
        for _ in range(20):
            pids = [p for p in self.pids() if p != os.getpid()]
            if not pids:
                return
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.05)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs:
            for _ in range(20):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


def _own(controller: str) -> str:
    """This process's cgroup path for a v1 controller ('' for v2's unified line)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            if (controller and controller in names.split(",")) or (not controller and names == ""):
                return path
    except OSError:
        pass
    return "/"


def _make(base: Path, name: str) -> Path | None:
    for parent in (base / _own_rel(base), base):
        d = parent / name
        try:
            d.mkdir()
            return d
        except FileExistsError:
            return d
        except OSError:
            continue
    return None


def _own_rel(base: Path) -> str:
    ctrl = base.name if base.name in ("memory", "pids") else ""
    return _own(ctrl).lstrip("/")


def create(name: str, memory_mb: float, max_pids: int = 512) -> Cgroup | None:
    """A fresh cgroup limiting memory (tmpfs included) and process count, or None."""
    if os.geteuid() != 0:
        return None
    root = Path("/sys/fs/cgroup")
    limit = str(int(memory_mb * 2**20))
    v1_mem = root / "memory"
    try:
        if (v1_mem / "memory.limit_in_bytes").exists() or (v1_mem / "cgroup.procs").exists() and \
                (v1_mem / "memory.usage_in_bytes").exists():
            mem = _make(v1_mem, name)
            if mem is None:
                return None
            try:
                (mem / "memory.limit_in_bytes").write_text(limit)
                if (mem / "memory.memsw.limit_in_bytes").exists():
                    try:
                        (mem / "memory.memsw.limit_in_bytes").write_text(limit)
                    except OSError:
                        pass
            except OSError:
                mem.rmdir()
                return None
            dirs = [mem]
            pids = _make(root / "pids", name) if (root / "pids").is_dir() else None
            if pids is not None:
                try:
                    (pids / "pids.max").write_text(str(max_pids))
                    dirs.append(pids)
                except OSError:
                    pids.rmdir()
            return Cgroup(1, dirs)
        controllers = (root / "cgroup.controllers")
        if controllers.exists() and "memory" in controllers.read_text().split():
            d = _make(root, name)
            if d is None:
                return None
            try:
                (d / "memory.max").write_text(limit)
                try:
                    (d / "memory.swap.max").write_text("0")
                except OSError:
                    pass
                try:
                    (d / "pids.max").write_text(str(max_pids))
                except OSError:
                    pass
            except OSError:
                d.rmdir()
                return None
            return Cgroup(2, [d])
    except OSError:
        return None
    return None


# --------------------------------------------------------------------------- the child's side


def _under_tmp(paths: set[str]) -> list[str]:
    """The outermost of ``paths`` (resolved) that lie under /tmp, which the sandbox covers."""
    inside = sorted({os.path.realpath(p) for p in paths if p})
    inside = [p for p in inside if p.startswith("/tmp/") and os.path.isdir(p)]
    return [p for p in inside if not any(p != q and p.startswith(q + "/") for q in inside)]


def preexec(ids: tuple[int, int] | None, cgroup: Cgroup | None, limits: dict,
            private_work: bool, report_fd: int | None = None):
    """The worker's ``preexec_fn``: session, cgroup, namespaces, private tmpfs, rlimits, uid.

    Runs in the forked child before ``exec``.  With ``private_work`` (root, namespaces
    allowed) the current folder (the staged work folder) is copied into a private tmpfs at
    ``/tmp/work``, which becomes the cwd; the worker must therefore be started by a path
    relative to it.  What was achieved is written to ``report_fd`` as one line of words.
    """
    scratch_mb = int(limits.get("scratch_mb", 512))
    shm_mb = int(limits.get("shm_mb", 64))
    memory_mb = float(limits.get("memory_mb", 1400))

    def run():
        import resource

        got = []
        os.setsid()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (200 * 2**20, 200 * 2**20))
        if cgroup is not None:
            try:
                cgroup.join()
                got.append(f"cgroup-v{cgroup.version}")
            except OSError:
                pass
        if ids is not None:  # root
            try:
                unshare(CLONE_NEWNET)
                got.append("netns")
            except OSError:
                pass
            if private_work:
                try:
                    unshare(CLONE_NEWNS)
                    mount("none", "/", None, MS_REC | MS_PRIVATE, None)
                    uid, gid = ids
                    opts = f"mode=1777,uid=0,gid=0"
                    # the interpreter's own folders must stay visible if they live under /tmp
                    # (a checkout in /tmp: its .grader-venv); held open, bound back read-only
                    keep = _under_tmp({sys.prefix, sys.base_prefix, sys.exec_prefix,
                                       os.path.dirname(os.path.realpath(sys.executable))})
                    held = [(path, os.open(path, os.O_PATH)) for path in keep]
                    # the cwd still names the staged folder after /tmp is covered
                    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={scratch_mb}m,{opts}")
                    for path, fd in held:
                        os.makedirs(path, exist_ok=True)
                        mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC, None)
                        try:
                            mount("none", path, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None)
                        except OSError:
                            pass
                        os.close(fd)
                    work = "/tmp/work"
                    shutil.copytree(".", work, symlinks=True)
                    for dirpath, dirnames, filenames in os.walk(work):
                        os.chown(dirpath, uid, gid)
                        for f in filenames:
                            os.lchown(os.path.join(dirpath, f), uid, gid)
                    os.chmod(work, 0o700)
                    os.chdir(work)
                    for extra, size in (("/dev/shm", shm_mb), ("/var/tmp", 16)):
                        if os.path.isdir(extra):
                            mount("tmpfs", extra, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size}m,{opts}")
                    got.append(f"private-tmpfs(/tmp {scratch_mb}M, /dev/shm {shm_mb}M)")
                except OSError:
                    pass
        else:
            try:  # an unprivileged user namespace, only to get an empty network namespace
                unshare(CLONE_NEWUSER | CLONE_NEWNET)
                got.append("userns+netns")
            except OSError:
                pass
        if cgroup is None:
            # no kernel memory accounting: bound the address space's data part instead (torch
            # maps large virtual regions, so RLIMIT_AS would refuse legitimate work)
            lim = int(memory_mb * 2**20 * 2)
            try:
                resource.setrlimit(resource.RLIMIT_DATA, (lim, lim))
                got.append("rlimit-data")
            except (OSError, ValueError):
                pass
        if ids is not None:
            os.setgroups([])
            os.setgid(ids[1])
            os.setuid(ids[0])
            resource.setrlimit(resource.RLIMIT_NPROC, (512, 512))
            got.append("uid")
        if report_fd is not None:
            try:
                os.write(report_fd, (" ".join(got) + "\n").encode())
                os.close(report_fd)
            except OSError:
                pass

    return run


def namespaces_usable() -> bool:
    """Whether this (root) process may create mount namespaces: tried once in a child."""
    if os.geteuid() != 0:
        return False
    pid = os.fork()
    if pid == 0:
        try:
            unshare(CLONE_NEWNS)
            mount("none", "/", None, MS_REC | MS_PRIVATE, None)
            os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
