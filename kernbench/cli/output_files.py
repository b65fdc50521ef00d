"""Output files (``--trace``, ``--hw-stats``, ``--stats-json``, ``--plot``): checked before the run by creating
them, written after it without destroying what the path is (docs/adr/0018).

- A regular file, or a path that does not exist, is written to a temporary file in its directory that is then
  renamed over it: all or nothing. A run that fails, is interrupted, terminated or runs out of memory leaves no
  half-written file and no temporary (`remove_temporaries`). A symbolic link is followed: its target is
  replaced, the link stays a link.
- A character device (``/dev/null``, a terminal) or a FIFO is written through, as a shell redirection writes
  it. A FIFO is not opened before the run (its reader would see the end of its input), and at the end it needs
  a reader. A FIFO output the command does not write (refused, failed, interrupted, out of memory) is opened
  and closed as it ends (`release_fifos`): its reader sees an empty input instead of waiting forever.
- Refused before the run (`OutputError`, one line, exit 2): a directory, a block device or a socket; a path where
  no file can be created (``/proc``, ``/sys``, a missing directory, a read-only or full file system); an output
  that is also an input (``--topology``, ``--ccl``, the bench) or another output; the regular file that is this
  process's stdout (the report would be replaced by the output).

New files get mode 0666 less the umask, as a shell redirection's; a replaced file keeps its mode.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

Writer = Callable[[BinaryIO], object]
"""What writes an output's bytes into the open file it is given."""

TEMPORARIES: set[str] = set()
"""Temporary files being written now (the signal and out-of-memory handlers remove them)."""

OUTPUT_FLAGS = ("--trace", "--hw-stats", "--stats-json", "--plot")
"""The options that name output files (their ``argparse`` names: ``trace``, ``hw_stats``, ...)."""

UNWRITTEN_FIFOS: set[str] = set()
"""Output paths that were FIFOs when the command started and that it has not opened yet (`release_fifos`)."""


class OutputError(ValueError):
    """An output path refused before the run: one line, exit 2."""


@dataclass(frozen=True)
class Output:
    """A checked output: ``flag`` and ``path`` as given; ``target`` the file a replacement goes to (a link's
    target); ``stream`` for a character device or FIFO, written through."""

    flag: str
    path: str
    target: str
    stream: bool


def check_outputs(outputs: Mapping[str, str | None], inputs: Mapping[str, str]) -> dict[str, Output]:
    """Each given output (flag -> path; None: not asked for) checked as above, by flag; ``inputs`` (flag or role
    -> path) are the files the run reads. Raises `OutputError` naming the flag and path of the first refused."""
    checked: dict[str, Output] = {}
    seen = {_identity(path): role for role, path in inputs.items()}
    stdout = _stdout_identity()
    for flag, path in outputs.items():
        if path is None:
            continue
        out = _check(flag, path)
        key = _identity(path)
        if not (out.stream and key in seen):  # a device or FIFO may take several outputs, a file only one
            other = seen.get(key)
            if other is not None:
                raise OutputError(f"{flag} {path}: is also {other}: refusing to overwrite it")
            seen[key] = f"{flag} {path}"
        if key == stdout and not out.stream:
            raise OutputError(f"{flag} {path}: is this command's stdout: the output would replace the report")
        checked[flag] = out
    return checked


def write(out: Output, writer: Writer) -> None:
    """Write ``out`` with ``writer``: through a temporary file renamed over the target, or through to a stream.
    Raises OSError saying why when it cannot."""
    if out.stream:
        _write_through(out.path, writer)
        return
    mode = None
    with contextlib.suppress(FileNotFoundError):
        mode = stat.S_IMODE(os.stat(out.target).st_mode)
    fd, tmp = _create_temporary(out.target)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            writer(fh)
        os.replace(tmp, out.target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        TEMPORARIES.discard(tmp)


def write_all(items: Sequence[tuple[Output, Writer]]) -> list[str]:
    """Write each output; one `failure_line` per output that could not be written (the others are written)."""
    failures = []
    for out, writer in items:
        try:
            write(out, writer)
        except OSError as exc:
            failures.append(failure_line(out, exc))
    return failures


def text_writer(text: str) -> Writer:
    """A `Writer` of ``text`` as UTF-8."""
    return lambda fh: fh.write(text.encode("utf-8"))


def remove_temporaries() -> None:
    """Remove the temporary files being written (the process is about to end without unwinding)."""
    for tmp in list(TEMPORARIES):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    TEMPORARIES.clear()


def watch_fifos(argv: Sequence[str], args: object = None) -> None:
    """Note the outputs named in ``argv`` (raw: before parsing can fail) or ``args`` (parsed) that are FIFOs, for
    `release_fifos`."""
    paths: list[str | None] = [getattr(args, flag[2:].replace("-", "_"), None) for flag in OUTPUT_FLAGS]
    for i, word in enumerate(argv):
        name, eq, value = word.partition("=")
        if name in OUTPUT_FLAGS:
            paths.append(value if eq else argv[i + 1] if i + 1 < len(argv) else None)
    for path in paths:
        if path:
            with contextlib.suppress(OSError):
                if stat.S_ISFIFO(os.stat(path).st_mode):
                    UNWRITTEN_FIFOS.add(path)


def release_fifos() -> None:
    """Open and close each FIFO output not written (`watch_fifos`) if a process reads it: that reader gets the end
    of its input rather than waiting for a writer that will not come. Without a reader, nothing is done."""
    for path in list(UNWRITTEN_FIFOS):
        with contextlib.suppress(OSError):
            if stat.S_ISFIFO(os.stat(path).st_mode):
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC))
    UNWRITTEN_FIFOS.clear()


def failure_line(out: Output, exc: OSError) -> str:
    """``--trace /dev/full: not written: No space left on device (errno 28)``."""
    return f"{out.flag} {out.path}: not written: {_reason(exc)}"


# -- checking ----------------------------------------------------------------------------------------------------


def _check(flag: str, path: str) -> Output:
    def refuse(problem: str) -> OutputError:
        return OutputError(f"{flag} {path}: {problem}")

    if not path:
        raise refuse("expected a file name")
    try:
        st: os.stat_result | None = os.stat(path)  # follows links: what a write would reach
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise refuse(f"cannot use it: {_reason(exc)}") from None
    if st is not None:
        kind = st.st_mode
        if stat.S_ISDIR(kind):
            raise refuse("is a directory")
        if stat.S_ISCHR(kind) or stat.S_ISFIFO(kind):
            if not os.access(path, os.W_OK):
                raise refuse("cannot write: permission denied")
            return Output(flag, path, path, stream=True)
        if not stat.S_ISREG(kind):
            what = "a block device" if stat.S_ISBLK(kind) else "a socket" if stat.S_ISSOCK(kind) else "not a file"
            raise refuse(f"is {what}: refusing to write an output onto it")
        if not os.access(path, os.W_OK):
            raise refuse("cannot write: permission denied")
    target = os.path.realpath(path)
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise refuse(f"cannot write: directory {directory!r} does not exist")
    try:
        _try_create(target if st is None else None, target)
    except OSError as exc:
        raise refuse(f"cannot create a file there: {_reason(exc)}") from None
    if _free_bytes(directory) == 0:
        raise refuse(f"cannot write: no space left on the file system of {directory!r}")
    return Output(flag, path, target, stream=False)


def _try_create(path: str | None, target: str) -> None:
    """Create ``path`` (a file that does not exist yet), or else a temporary beside ``target``, write a byte into
    it and remove it: what the write after the run will need."""
    if path is not None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        name = path
    else:
        fd, name = _create_temporary(target)
    try:
        os.write(fd, b"\0")
    finally:
        os.close(fd)
        os.unlink(name)
        TEMPORARIES.discard(name)


def _free_bytes(directory: str) -> int:
    st = os.statvfs(directory)
    blocks = st.f_bfree if os.geteuid() == 0 else st.f_bavail  # root may use the reserved blocks
    return blocks * st.f_frsize


def _identity(path: str) -> tuple:
    """What two paths share when they are the same file: device and inode, or the resolved path of a file that
    does not exist yet."""
    try:
        st = os.stat(path)
    except OSError:
        return ("path", os.path.realpath(path))
    return ("inode", st.st_dev, st.st_ino)


def _stdout_identity() -> tuple | None:
    """`_identity` of this process's stdout when it is a regular file (a stream is not replaced)."""
    try:
        st = os.fstat(1)
    except OSError:
        return None
    return ("inode", st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


# -- writing -----------------------------------------------------------------------------------------------------


def _create_temporary(target: str) -> tuple[int, str]:
    """A new file beside ``target`` (``.NAME.XXXXXXXX.tmp``, mode 0666 less the umask), open for writing and listed
    in `TEMPORARIES`."""
    directory, name = os.path.split(target)
    while True:
        tmp = os.path.join(directory, f".{name[:64]}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        TEMPORARIES.add(tmp)
        return fd, tmp


def _write_through(path: str, writer: Writer) -> None:
    """Open a device or FIFO as a shell redirection would (a FIFO without a reader is an error, not a wait)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO and stat.S_ISFIFO(os.stat(path).st_mode):
            raise OSError(errno.ENXIO, "no process reads the FIFO") from None
        raise
    UNWRITTEN_FIFOS.discard(path)  # its reader gets the end of its input when this closes, whatever is written
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    with os.fdopen(fd, "wb") as fh:
        writer(fh)


def _reason(exc: OSError) -> str:
    return f"{exc.strerror or exc} (errno {exc.errno})" if exc.errno else str(exc)
