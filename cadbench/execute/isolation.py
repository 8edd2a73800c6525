"""Kernel-level isolation steps: resource limits, a network namespace, an unprivileged uid, a pid
namespace per candidate, the size-limited folder each candidate writes into, private folders.

Most steps run in the freshly forked candidate before any candidate code runs (see template.py);
the pid namespace is made by the template that forks it, the folder's tmpfs by the zygote. Each
step reports what it achieved, so the result can say which protections were in force."""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
ADDR_NO_RANDOMIZE = 0x0040000

# Candidates run as a uid of their own (no /etc/passwd entry needed), one per warm worker, so
# that "kill every process of this uid" can only ever hit this worker's candidates.
SANDBOX_UID_BASE = 2_000_000
# File-size cap for anything the candidate writes (stdout file, mesh arrays, junk files).
MAX_FILE_BYTES = 512 * 1024 * 1024
# Processes the sandbox uid may own at once (fork bombs stop here; only enforced for non-root).
MAX_PROCESSES = 64


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


def fixed_layout(module: str) -> None:
    """Re-exec `python -m module` once with address-space randomisation off (the warm worker
    and the hatchery that forks warm workers): OCC's tessellation of a program depends on
    where its objects lie in memory (the order of pointer-keyed maps), so with a random layout
    two warm workers could mesh the same program with last-bit differences. Every candidate
    forks from a template, so one fixed layout makes meshes reproducible across workers and
    runs. ASLR protects nothing inside the sandbox: a candidate already runs whatever code it
    likes in its own process. Inheritable descriptors (the hatchery's socket) survive."""
    import sys
    current = _libc.personality(0xFFFFFFFF)
    if current == -1 or current & ADDR_NO_RANDOMIZE:
        return
    if _libc.personality(current | ADDR_NO_RANDOMIZE) == -1:
        return
    os.execv(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]])


def set_child_subreaper() -> None:
    """Orphaned descendants (even ones that setsid) are re-parented to us, so we can kill them."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def sandbox_uid(worker_pid: int) -> int:
    return SANDBOX_UID_BASE + worker_pid


def current_vsz_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def apply_limits(memory_mb: int, cpu_s: float, limit_processes: bool) -> None:
    """rlimits. The address-space cap is relative: cadquery's import already maps a large
    virtual size, so the candidate gets `memory_mb` on top of what the warm worker maps."""
    cap = current_vsz_bytes() + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    cpu = max(1, int(cpu_s + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    if limit_processes:  # RLIMIT_NPROC counts per uid and is ignored for root
        resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
    # Writing past the file-size cap then fails with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def isolate_network() -> str:
    """A new network namespace: no interface except a down loopback, so no connection at all.
    Returns which mechanism is in force: "netns", "userns+netns" or "none"."""
    if _libc.unshare(CLONE_NEWNET) == 0:
        return "netns"
    if ctypes.get_errno() in (errno.EPERM, errno.EINVAL) and os.geteuid() != 0:
        # Unprivileged: a user namespace grants the right to make a network namespace.
        uid, gid = os.getuid(), os.getgid()
        if _libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
            try:  # map our own ids so files keep their owner
                with open("/proc/self/setgroups", "w") as f:
                    f.write("deny")
                with open("/proc/self/uid_map", "w") as f:
                    f.write(f"{uid} {uid} 1")
                with open("/proc/self/gid_map", "w") as f:
                    f.write(f"{gid} {gid} 1")
            except OSError:
                pass
            return "userns+netns"
    return "none"


MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
SYS_MOUNT_SETATTR = 442  # x86_64 and aarch64 (asm-generic) alike
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1


def _mount_setattr(path: str, attr_set: int, attr_clr: int, recursive: bool) -> None:
    attr = (ctypes.c_uint64 * 4)(attr_set, attr_clr, 0, 0)  # struct mount_attr
    flags = AT_RECURSIVE if recursive else 0
    _libc.syscall.restype = ctypes.c_long
    ret = _libc.syscall(ctypes.c_long(SYS_MOUNT_SETATTR), ctypes.c_int(AT_FDCWD), path.encode(),
                        ctypes.c_uint(flags), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    _check(int(ret), f"mount_setattr({path})")


# Shared scratch folders hidden behind an empty tmpfs: they hold other users' files and
# world-writable Unix sockets (X11, agents), which a read-only view would still let one connect to.
HIDDEN_SCRATCH = ("/tmp", "/var/tmp", "/dev/shm", "/run")
MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x2, 0x4, 0x8


def _mkdirs_traversable(path: str) -> None:
    """Create path's missing folders with mode 0711 (whatever the umask), so another uid can
    walk down to its own folder."""
    parts = path.strip("/").split("/")
    cur = ""
    for part in parts:
        cur += "/" + part
        if not os.path.isdir(cur):
            os.mkdir(cur)
            os.chmod(cur, 0o711)


def _hide(path: str, writable_dir: str) -> None:
    """Cover a folder with an empty tmpfs, a file with /dev/null (never the candidate's own)."""
    real = os.path.realpath(path)
    if not os.path.isabs(real) or os.path.commonpath([real, writable_dir]) == real:
        return
    if os.path.isdir(real):
        _check(_libc.mount(b"tmpfs", real.encode(), b"tmpfs",
                           ctypes.c_ulong(MS_NOSUID | MS_NODEV | MS_NOEXEC), b"size=4k,mode=0"),
               f"hide {real}")
    elif os.path.isfile(real):
        _check(_libc.mount(b"/dev/null", real.encode(), None, ctypes.c_ulong(MS_BIND), None),
               f"hide {real}")


def readonly_filesystem(writable_dir: str, hide: tuple[str, ...] = ()) -> bool:
    """A private mount namespace in which every mount is read-only except `writable_dir` (the
    candidate's own folder), the shared scratch folders are empty and the `hide` paths covered.
    Changes stay in this process's namespace; the host is untouched. Needs root (CAP_SYS_ADMIN) and Linux >= 5.12;
    returns False where unavailable."""
    if _libc.unshare(CLONE_NEWNS) != 0:
        return False
    try:
        # private first, so nothing done here propagates back to the host's mounts
        _check(_libc.mount(None, b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None), "mount private")
        work_fd = os.open(writable_dir, os.O_PATH | os.O_DIRECTORY)
        try:
            for d in HIDDEN_SCRATCH:
                if os.path.isdir(d) and not os.path.islink(d):
                    _check(_libc.mount(b"tmpfs", d.encode(), b"tmpfs",
                                       ctypes.c_ulong(MS_NOSUID | MS_NODEV | MS_NOEXEC),
                                       b"size=64k,mode=711"), f"tmpfs on {d}")
            for path in hide:  # the harness's secrets: references, ground-truth cache...
                _hide(path, writable_dir)
            _mkdirs_traversable(writable_dir)  # in the new tmpfs when the folder was under /tmp
            _check(_libc.mount(f"/proc/self/fd/{work_fd}".encode(), writable_dir.encode(), None,
                               ctypes.c_ulong(MS_BIND), None), "bind workdir")
        finally:
            os.close(work_fd)
        _mount_setattr("/", MOUNT_ATTR_RDONLY, 0, recursive=True)
        _mount_setattr(writable_dir, 0, MOUNT_ATTR_RDONLY, recursive=False)
    except OSError:
        return False
    os.chdir(writable_dir)  # the cwd must refer to the new, writable mount
    return True


def refuse_sockets() -> None:
    """Fallback when no namespace is available: Python-level sockets raise. Best effort only
    (ctypes can still call socket(2)); docs/security.md says so."""
    import socket

    class _Refused(socket.socket):
        def __init__(self, *a, **kw):
            raise PermissionError(errno.EACCES, "network access is disabled in the cadbench sandbox")

    socket.socket = _Refused  # type: ignore[misc]
    socket.create_connection = lambda *a, **kw: _Refused()


def drop_privileges(uid: int) -> None:
    """As root: become `uid`/`uid` with no supplementary groups and no way back."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def no_new_privs() -> None:
    """setuid binaries cannot raise privileges again (also after exec)."""
    try:
        prctl(PR_SET_NO_NEW_PRIVS, 1)
    except OSError:
        pass


def die_with_parent() -> None:
    """SIGKILL when the warm worker dies (set after the uid change, which clears it)."""
    try:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


# ---- pid namespace per candidate --------------------------------------------------------------
class PidNamespaces:
    """Makes one pid namespace per candidate, from the process that forks the candidates.

    `new()` starts a tiny init (a bounded `sleep`, spawned without copying our memory) as pid 1
    of a fresh namespace; `fork_into(init)` then forks the candidate into that namespace (pid 2,
    still our own child, so wait4 and its rusage work as without namespaces). Killing the init
    makes the kernel kill every process left in the namespace, however it detached (setsid,
    double fork): the whole tree dies by construction, no sweep, no timing. Needs CAP_SYS_ADMIN;
    `available` is False elsewhere and callers fall back to the subreaper sweep."""

    def __init__(self):
        import shutil
        self.sleep = shutil.which("sleep", path="/usr/bin:/bin")
        self.own_fd: int | None = None
        self.available = False
        if self.sleep is None or os.geteuid() != 0:
            return
        self.own_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        try:  # try it once: the container may forbid new namespaces
            init = self.new(5.0)
            self.kill(init)
            self.available = True
        except OSError:
            self._restore()

    def _restore(self) -> None:
        if self.own_fd is not None:
            _check(_libc.setns(self.own_fd, CLONE_NEWPID), "setns(own pid namespace)")

    def new(self, lifetime_s: float) -> int:
        """Spawn the init of a fresh namespace; it exits by itself after lifetime_s at the latest
        (so an init orphaned by a killed template cannot linger)."""
        _check(_libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
        try:
            devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            try:
                actions = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
                return os.posix_spawn(self.sleep, ["sleep", f"{max(1, int(lifetime_s + 1))}"], {},
                                      file_actions=actions)
            finally:
                os.close(devnull)
        finally:
            self._restore()  # our next children go back into our own namespace

    def fork_into(self, init: int) -> int:
        """os.fork(), the child becoming a process of init's namespace."""
        ns = os.open(f"/proc/{init}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _check(_libc.setns(ns, CLONE_NEWPID), "setns(candidate pid namespace)")
        finally:
            os.close(ns)
        try:
            pid = os.fork()
        except BaseException:
            self._restore()
            raise
        if pid != 0:
            self._restore()  # the child stays where it is: in its new namespace
        return pid

    @staticmethod
    def kill(init: int) -> None:
        """Kill the namespace's init: the kernel then kills everything in the namespace; reaping
        the init returns only once they are all gone."""
        try:
            os.kill(init, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(init, 0)


# ---- the candidate's size-limited folder --------------------------------------------------------
MNT_DETACH = 2


def private_mount_namespace() -> bool:
    """Move this process (the zygote) into a mount namespace of its own, so the tmpfs mounted on
    each candidate's folder exists only for it and its children and vanishes with them (no
    stale mount on the host after a crash). Root only; False where unavailable."""
    if os.geteuid() != 0 or _libc.unshare(CLONE_NEWNS) != 0:
        return False
    try:
        _check(_libc.mount(None, b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None),
               "mount private")
    except OSError:
        return False
    return True


def mount_workdir(path: str, size_mb: int, max_files: int, uid: int) -> None:
    """A tmpfs of `size_mb` MiB and `max_files` inodes on the candidate's folder: whatever the
    candidate writes (posix_fallocate included) stops there, not on the disk."""
    opts = f"size={int(size_mb)}m,nr_inodes={int(max_files)},mode=0700,uid={uid},gid={uid}"
    _check(_libc.mount(b"tmpfs", path.encode(), b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV),
                       opts.encode()), f"tmpfs on {path}")


def unmount(path: str) -> None:
    _libc.umount2(path.encode(), MNT_DETACH)


# ---- private records ------------------------------------------------------------------------------
def private_dir(path) -> "os.PathLike | str":
    """Create `path` (and parents) if needed and make it 0700: run folders and caches that hold
    ground truth or scores are for the harness user only. Returns path."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def remove_tree(path: str) -> None:
    """Remove a candidate's folder, however deep: shutil.rmtree recurses per level and hits
    Python's recursion limit on a tree a hostile candidate made thousands of levels deep."""
    import shutil
    import subprocess
    try:
        shutil.rmtree(path, ignore_errors=True)
    except RecursionError:
        pass
    if os.path.lexists(path):
        subprocess.run(["rm", "-rf", "--one-file-system", "--", path], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
