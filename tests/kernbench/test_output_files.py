"""Output paths (``--trace``, ``--hw-stats``, ``--stats-json``, ``--plot``): never destroy what a path is, never lose
the report (kernbench/cli/output_files.py, docs/adr/0018)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kernbench.cli.main import main
from kernbench.cli.output_files import TEMPORARIES, check_outputs, text_writer, write
from tests.kernbench.helpers import REPO_ROOT
from tests.pdes.test_mpi_jobs import MPIRUN
from tests.test_failure_matrix import run_job

TOPOLOGY = str(REPO_ROOT / "topology.yaml")
RUN = ["run", "--topology", TOPOLOGY, "--bench", "gemm_single_pe"]


def kernbench(capsys, *args: str) -> tuple[int, str, str]:
    code = main([*RUN, *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_symlink_stays_a_link_and_its_target_gets_the_trace(capsys, tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "trace.json"
    link.symlink_to(target)
    code, out, _ = kernbench(capsys, "--trace", str(link))
    assert code == 0, out
    assert link.is_symlink()
    assert os.readlink(link) == str(target)
    assert json.loads(target.read_text())["otherData"]["generator"] == "kernbench run --trace"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real.json", "trace.json"]  # no temporary left


def test_a_character_device_is_written_through_and_stays_a_device(capsys, tmp_path):
    before = os.stat("/dev/null")
    stats = tmp_path / "hw.csv"  # --hw-stats takes its format from the name
    stats.symlink_to("/dev/null")
    code, out, _ = kernbench(capsys, "--trace", "/dev/null", "--hw-stats", str(stats), "--stats-json", "/dev/null")
    assert code == 0, out
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_a_fifo_is_written_through_to_its_reader(capsys, tmp_path):
    fifo = tmp_path / "trace.json"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    code, out, _ = kernbench(capsys, "--trace", str(fifo))
    reader.join(timeout=30)
    assert code == 0, out
    assert not reader.is_alive()  # it got the end of its input
    assert json.loads(got[0])["traceEvents"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_fifo_without_reader_fails_after_the_report(capsys, tmp_path):
    fifo = tmp_path / "trace.json"
    os.mkfifo(fifo)
    code, out, err = kernbench(capsys, "--trace", str(fifo))
    assert code == 4
    assert out.startswith("kernbench run gemm_single_pe: PASS")
    assert err.splitlines() == [f"kernbench: --trace {fifo}: not written: no process reads the FIFO (errno 6)"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def fifo_reader(fifo: Path) -> tuple[threading.Thread, list[bytes]]:
    """A thread reading ``fifo`` to its end (it blocks in ``open`` until a writer comes)."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    return reader, got


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--stats-json", "/proc/x.json"], 2),  # refused before the run, after --trace was checked
        (["--hw-stats", "/proc/x.csv", "--trace={fifo}"], 2),  # refused before --trace is looked at
        (["--set", "nosuch=1"], 2),  # refused before the outputs are looked at
    ],
)
def test_a_fifo_that_is_not_written_gets_the_end_of_its_input(capsys, tmp_path, args, code):
    """A command that ends without writing its FIFO output does not leave the FIFO's reader waiting (issue 21)."""
    fifo = tmp_path / "trace.json"
    os.mkfifo(fifo)
    reader, got = fifo_reader(fifo)
    args = [a.replace("{fifo}", str(fifo)) for a in args]
    code_, out, _ = kernbench(capsys, *(args if "--trace={fifo}" in args else ["--trace", str(fifo), *args]))
    reader.join(timeout=30)
    assert (code_, out) == (code, "")
    assert not reader.is_alive()
    assert got == [b""]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_fifo_named_with_a_bad_command_line_gets_the_end_of_its_input(tmp_path):
    fifo = tmp_path / "trace.json"
    os.mkfifo(fifo)
    reader, got = fifo_reader(fifo)
    with pytest.raises(SystemExit) as exc:
        main([*RUN, "--trace", str(fifo), "--no-such-flag"])
    reader.join(timeout=30)
    assert exc.value.code == 2
    assert not reader.is_alive()
    assert got == [b""]


@pytest.mark.parametrize("ranks", [None, pytest.param(2, marks=pytest.mark.skipif(MPIRUN is None, reason="no mpirun"))])
def test_a_fifo_of_a_job_that_ends_early_gets_the_end_of_its_input(tmp_path, ranks):
    """Ended by os._exit in a bench (the way out of memory and signals leave too: `kernbench.cli.process`)."""
    fifo = tmp_path / "trace.json"
    os.mkfifo(fifo)
    reader, got = fifo_reader(fifo)
    args = ["-m", "kernbench.cli.main", "run", "--bench", "os_exit", "--benches-dir", "tests/failure_cases/benches"]
    proc, _, left = run_job([*args, "--device", "all", "--trace", str(fifo)], ranks)
    reader.join(timeout=30)
    assert proc.returncode == 1, proc.stderr
    assert not reader.is_alive()
    assert got == [b""]
    assert not left


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("flag", ["--trace", "--hw-stats", "--stats-json"])
def test_a_write_that_fails_after_the_run_keeps_the_report_and_exits_4(capsys, tmp_path, flag):
    path = "/dev/full" if flag != "--hw-stats" else str(tmp_path / "hw.json")
    other = ["--trace", str(tmp_path / "t.json")] if flag != "--trace" else []
    if flag == "--hw-stats":  # a .json name on a device: a link to /dev/full
        Path(path).symlink_to("/dev/full")
    code, out, err = kernbench(capsys, "--json", flag, path, *other)
    assert code == 4
    assert json.loads(out)["status"] == "PASS"
    assert err.splitlines() == [f"kernbench: {flag} {path}: not written: No space left on device (errno 28)"]
    assert not other or (tmp_path / "t.json").stat().st_size > 0  # the other output is written all the same


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KiB tmpfs (root only: skipped where it cannot be mounted)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs (needs root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def fill(directory: Path, leave: int) -> None:
    """Fill ``directory``'s file system until ``leave`` bytes are free."""
    free = os.statvfs(directory).f_bfree * os.statvfs(directory).f_frsize
    with (directory / "fill").open("wb") as fh:
        fh.write(b"\0" * (free - leave))


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_file_system_that_fills_keeps_the_report_and_exits_4(capsys, small_tmpfs, json_flag):
    """The trace (about 10 kB) does not fit in the 4 KiB left: the report is printed, the temporary removed."""
    fill(small_tmpfs, 4096)
    trace = small_tmpfs / "t.json"
    code, out, err = kernbench(capsys, *json_flag, "--trace", str(trace))
    assert code == 4
    assert (json.loads(out)["status"] if json_flag else out.splitlines()[0].split(": ")[1]) == "PASS"
    assert err.splitlines() == [f"kernbench: --trace {trace}: not written: No space left on device (errno 28)"]
    assert [p.name for p in small_tmpfs.iterdir()] == ["fill"]


def test_a_full_file_system_is_refused_before_the_run(capsys, small_tmpfs):
    fill(small_tmpfs, 0)
    trace = small_tmpfs / "t.json"
    code, out, err = kernbench(capsys, "--trace", str(trace))
    assert (code, out) == (2, "")
    assert err == f"kernbench: --trace {trace}: cannot create a file there: No space left on device (errno 28)\n"
    assert [p.name for p in small_tmpfs.iterdir()] == ["fill"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--stats-json", "/proc/x.json"], "--stats-json /proc/x.json: cannot create a file there: "),
        (["--trace", "/proc/self/fd"], "--trace /proc/self/fd: is a directory"),
        (["--trace", TOPOLOGY, "--topology", TOPOLOGY], f"--trace {TOPOLOGY}: is also the --topology file"),
        (
            ["--trace", "{tmp}/a.json", "--hw-stats", "{tmp}/a.json"],
            "--hw-stats {tmp}/a.json: is also --trace {tmp}/a.json",
        ),
        (
            ["--trace", "{tmp}/a.json", "--stats-json", "{tmp}/./a.json"],
            "--stats-json {tmp}/./a.json: is also --trace {tmp}/a.json",
        ),
        (["--trace", "{tmp}/missing/a.json"], "--trace {tmp}/missing/a.json: cannot write: directory"),
        (
            ["--trace", str(REPO_ROOT / "kernbench" / "benches" / "gemm_single_pe.py")],
            f"--trace {REPO_ROOT / 'kernbench' / 'benches' / 'gemm_single_pe.py'}: is also the bench's file",
        ),
    ],
)
def test_bad_output_paths_are_refused_before_the_run(capsys, tmp_path, args, problem):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    before = Path(TOPOLOGY).read_bytes()
    code, out, err = kernbench(capsys, *args)
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert line.startswith("kernbench: " + problem.replace("{tmp}", str(tmp_path))), line
    assert Path(TOPOLOGY).read_bytes() == before
    assert list(tmp_path.iterdir()) == []  # the check created nothing that stays


def test_the_regular_file_that_is_stdout_is_refused(tmp_path):
    out = tmp_path / "out.txt"
    with out.open("w") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "kernbench.cli.main", *RUN, "--trace", str(out)],
            stdout=fh,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2
    assert proc.stderr == f"kernbench: --trace {out}: is this command's stdout: the output would replace the report\n"


def test_every_output_of_a_run_gets_the_same_mode_from_the_umask(capsys, tmp_path):
    """--trace and --hw-stats are written as --stats-json is: 0666 less the umask (they were 0600)."""
    before = os.umask(0o022)
    try:
        names = {flag: tmp_path / f"{flag[2:]}.json" for flag in ("--trace", "--hw-stats", "--stats-json")}
        code, _, _ = kernbench(capsys, *(x for flag, path in names.items() for x in (flag, str(path))))
    finally:
        os.umask(before)
    assert code == 0
    assert {flag: stat.S_IMODE(path.stat().st_mode) for flag, path in names.items()} == dict.fromkeys(names, 0o644)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_honour_the_umask_and_replaced_ones_keep_their_mode(tmp_path, umask):
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    old.write_text("x")
    old.chmod(0o640)
    before = os.umask(umask)
    try:
        outputs = check_outputs({"--trace": str(new), "--hw-stats": str(old)}, {})
        for out in outputs.values():
            write(out, text_writer("{}\n"))
    finally:
        os.umask(before)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(old.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json", "old.json"]
    assert not TEMPORARIES


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_a_file_is_written_removes_its_temporary(tmp_path, signum, code):
    """The process is stopped with a temporary open, as a trace write would leave it."""
    script = (
        "import signal, sys\n"
        "from kernbench.cli import output_files, process\n"
        "process.setup()\n"
        f"[out] = output_files.check_outputs({{'--trace': {str(tmp_path / 't.json')!r}}}, {{}}).values()\n"
        "output_files.write(out, lambda fh: (print('writing', flush=True), signal.pause()))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "writing\n"
    assert next(p.name for p in tmp_path.iterdir()).startswith(".t.json.")
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == code
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not installed")
def test_under_mpirun_rank_0_checks_and_writes_and_every_rank_exits_with_its_code(tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "real.json")
    args = ["-m", "kernbench.cli.main", *RUN, "--device", "all", "--json", "--trace", str(link)]
    proc, _, left = run_job([*args, "--stats-json", "/dev/full"], 2)
    assert proc.returncode == 4, proc.stderr
    assert json.loads(proc.stdout)["status"] == "PASS"
    assert proc.stderr == "kernbench: --stats-json /dev/full: not written: No space left on device (errno 28)\n"
    assert link.is_symlink()
    assert json.loads((tmp_path / "real.json").read_text())["traceEvents"]
    refused, _, _ = run_job([*args, "--hw-stats", str(link)], 2)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert refused.stderr == f"kernbench: --hw-stats {link}: is also --trace {link}: refusing to overwrite it\n"
    assert not left
