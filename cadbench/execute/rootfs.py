"""The candidate's root view: a new root (tmpfs) that holds the Python installation, the system
libraries, a few /etc files, a handful of /dev nodes, its own /proc and its own folder; nothing
else. pivot_root makes it the candidate's `/`, so the dataset, the repository, runs/, home
folders, the cache and cadbench's own source are not hidden but absent: there is no path to
them. Everything is read-only except the candidate's folder.

`plan()` runs in the trusted zygote (it decides what is visible); `enter()` runs in the freshly
forked candidate, as root, before the privilege drop. Needs CAP_SYS_ADMIN."""

from __future__ import annotations

import ctypes
import os
import site
import sys
from dataclasses import dataclass
from pathlib import Path

from .isolation import (CLONE_NEWNS, MNT_DETACH, MOUNT_ATTR_RDONLY, MS_BIND, MS_NODEV,
                        MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_REC, _check, _libc, _mount_setattr)

# /etc: what the dynamic loader and the C library read; nothing host-specific beyond that.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "passwd",
             "group")
DEV_NODES = ("null", "zero", "full", "random", "urandom")
# Top-level folders that are symlinks into /usr on merged-/usr systems (mirrored as symlinks),
# real folders elsewhere (bound read-only).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
MOUNT_ATTR_NOSUID = 0x2
SYS_PIVOT_ROOT = 155 if os.uname().machine == "x86_64" else 41  # x86_64 / asm-generic


@dataclass(frozen=True)
class RootPlan:
    binds: tuple[str, ...]                 # host paths bound read-only at the same path
    links: tuple[tuple[str, str], ...]     # (path, target): top-level symlinks mirrored
    masks: tuple[str, ...]                 # paths inside a bind covered by an empty tmpfs

    def hiding(self, paths) -> "RootPlan":
        """This plan with `paths` covered too, where they lie inside a bound folder."""
        extra = _inside_binds(tuple(os.path.abspath(p) for p in paths), self.binds)
        return RootPlan(self.binds, self.links, tuple(sorted(set(self.masks) | set(extra))))


def _within(path: str, parent: str) -> bool:
    return os.path.commonpath([path, parent]) == parent


def plan(hide: tuple[str, ...] = ()) -> RootPlan:
    """What the candidate sees: the interpreter's prefixes and site-packages, the system
    folders, ETC_FILES. cadbench's own package folder is masked wherever it lies inside one of
    them (an installed, non-editable cadbench), and so is every `hide` path."""
    import cadbench

    links, dirs = [], []
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            links.append((d, os.readlink(d)))
        elif os.path.isdir(d):
            dirs.append(d)
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                *site.getsitepackages()}
    dirs += [os.path.abspath(p) for p in prefixes if os.path.isdir(p)]
    dirs += [f"/etc/{name}" for name in ETC_FILES if os.path.exists(f"/etc/{name}")]
    binds: list[str] = []
    for d in sorted(set(dirs), key=len):  # parents first; a path inside a bind is already there
        if not any(_within(d, b) for b in binds):
            binds.append(d)
    package = str(Path(cadbench.__file__).resolve().parent)
    return RootPlan(tuple(binds), tuple(links), ()).hiding((package, *hide))


def _inside_binds(paths: tuple[str, ...], binds: tuple[str, ...]) -> list[str]:
    return [m for m in paths
            if os.path.lexists(m) and any(_within(os.path.realpath(m), os.path.realpath(b))
                                          or _within(m, b) for b in binds)]


def _mount(src: bytes | None, target: str, fstype: bytes | None, flags: int,
           data: bytes | None, what: str) -> None:
    _check(_libc.mount(src, target.encode(), fstype, ctypes.c_ulong(flags), data), what)


def _bind(src: str, target: str) -> None:
    if os.path.isdir(src):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a"):
            pass
    _mount(src.encode(), target, None, MS_BIND | MS_REC, None, f"bind {src}")


def enter(root_plan: RootPlan, workdir: str) -> None:
    """Make a new mount namespace whose root holds only `root_plan` and `workdir` (writable),
    and pivot into it. Raises OSError on any failure (the caller reports a setup failure)."""
    umask = os.umask(0o022)  # the view's folders must be traversable by the candidate's uid
    try:
        _build(root_plan, workdir)
    finally:
        os.umask(umask)
    os.chdir(workdir)


def _build(root_plan: RootPlan, workdir: str) -> None:
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None, "mount private")  # nothing goes back
    work_fd = os.open(workdir, os.O_PATH | os.O_DIRECTORY)
    try:
        # The new root is staged on the workdir's own path (the folder itself stays reachable
        # through work_fd), so no other mount point is needed.
        new = workdir
        _mount(b"tmpfs", new, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,nr_inodes=4096,mode=0755",
               "tmpfs for the new root")
        for path in root_plan.binds:
            _bind(path, new + path)
        for path, target in root_plan.links:
            os.symlink(target, new + path)
        os.makedirs(new + "/dev")
        for node in DEV_NODES:
            if os.path.exists(f"/dev/{node}"):
                _bind(f"/dev/{node}", f"{new}/dev/{node}")
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
            os.symlink(target, f"{new}/dev/{name}")
        os.makedirs(new + "/proc")
        # A proc of the candidate's own pid namespace; hidepid also hides other users'
        # processes where there is no pid namespace.
        proc_flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
        if _libc.mount(b"proc", f"{new}/proc".encode(), b"proc", ctypes.c_ulong(proc_flags),
                       b"hidepid=invisible") != 0:
            _mount(b"proc", f"{new}/proc", b"proc", proc_flags, None, "mount proc")
        os.makedirs(new + "/tmp", exist_ok=True)
        os.makedirs(new + workdir, exist_ok=True)
        _mount(f"/proc/self/fd/{work_fd}".encode(), new + workdir, None, MS_BIND, None,
               "bind workdir")
        for path in root_plan.masks:
            target = new + path
            if os.path.isdir(target):
                _mount(b"tmpfs", target, b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                       b"size=4k,mode=0", f"mask {path}")
            elif os.path.lexists(target):
                _mount(b"/dev/null", target, None, MS_BIND, None, f"mask {path}")
    finally:
        os.close(work_fd)
    os.chdir(new)
    _check(_libc.syscall(ctypes.c_long(SYS_PIVOT_ROOT), b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "detach the old root")  # the host's tree is gone
    os.chdir("/")
    # nosuid everywhere; not nodev (the /dev nodes are device files), and the candidate cannot
    # make device nodes (no CAP_MKNOD after the privilege drop).
    _mount_setattr("/", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0, recursive=True)
    _mount_setattr(workdir, 0, MOUNT_ATTR_RDONLY, recursive=False)
