"""Bad input files and flags: each ends in exactly one line ``kernbench: <file or flag>: <where>: <problem>`` on
stderr, nothing on stdout and exit code 2 -- no traceback, no hang, no huge allocation, no output from user code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from kernbench.ccl import DEFAULT_CCL_PATH
from kernbench.cli.main import main
from kernbench.topology import DEFAULT_TOPOLOGY_PATH
from kernbench.yaml_input import MAX_INPUT_BYTES

TOPOLOGY = DEFAULT_TOPOLOGY_PATH.read_text()
CCL = DEFAULT_CCL_PATH.read_text()
RING = "    module: kernbench.ccl.algorithms.ring_allreduce\n"


def ccl_entry(*lines: str) -> str:
    """A ccl.yaml with one entry ``a``: the ring all-reduce plus ``lines``."""
    return (
        "defaults:\n  algorithm: a\nalgorithms:\n  a:\n"
        + RING
        + "    topology: ring_1d\n"
        + "".join(f"    {line}\n" for line in lines)
    )


def topology_with(old: str, new: str) -> str:
    assert old in TOPOLOGY
    return TOPOLOGY.replace(old, new, 1)


TOPO = ["topology", "--topology", "{t}"]
RUN_CCL = ["run", "--bench", "ccl_allreduce", "--topology", str(DEFAULT_TOPOLOGY_PATH), "--ccl", "{c}"]
RUN_TOPO = ["run", "--bench", "qkv_gemm", "--topology", "{t}"]

# (id, argv ({t}: the written topology.yaml, {c}: the written ccl.yaml), topology text, ccl text, message regex)
CASES = [
    (
        "topology nested 20,000 levels",
        TOPO,
        "a: " + "[" * 20000 + "]" * 20000,
        None,
        r"{t}:1:67: nested more than 64 levels deep",
    ),
    (
        "ccl.yaml nested 20,000 levels",
        RUN_CCL,
        None,
        "defaults:\n" + "- " * 20000 + "x\n",
        r"{c}:2:127: nested more than 64 levels deep",
    ),
    (
        "topology 5,000-digit integer",
        TOPO,
        topology_with("sip_count: 2 ", "sip_count: " + "9" * 5000 + " "),
        None,
        r"{t}:11:14: integer of 5000 characters: at most 4300 digits",
    ),
    (
        "ccl.yaml 5,000-digit integer",
        RUN_CCL,
        None,
        ccl_entry("n_elem: " + "7" * 5000),
        r"{c}:7:13: integer of 5000 characters: at most 4300 digits",
    ),
    (
        "binary topology.yaml",
        TOPO,
        b"\xc7\x00\xff" * 100,
        None,
        r"{t}: cannot read: not UTF-8 text \(byte 0xc7 at offset 0\)",
    ),
    (
        "binary ccl.yaml",
        RUN_CCL,
        None,
        b"\x89PNG\r\n\x1a\n\xff" * 10,
        r"{c}: cannot read: not UTF-8 text \(byte 0x89 at offset 0\)",
    ),
    (
        "control character",
        RUN_CCL,
        None,
        "defaults:\n  n_slots: 4\x01\n",
        r"{c}:2:13: YAML syntax error: unacceptable character #x0001: special characters are not allowed",
    ),
    (
        "module ''",
        RUN_CCL,
        None,
        ccl_entry().replace(RING, '    module: ""\n'),
        r"{c}: algorithms\.a\.module: expected an absolute module name such as package\.module, got ''",
    ),
    (
        "module .x",
        RUN_CCL,
        None,
        ccl_entry().replace(RING, "    module: .x\n"),
        r"{c}: algorithms\.a\.module: expected an absolute module name such as package\.module, got '\.x'",
    ),
    (
        "module that does not import",
        RUN_CCL,
        None,
        ccl_entry().replace(RING, "    module: no_such.algo\n"),
        r"{c}: algorithms\.a\.module: cannot import 'no_such\.algo' \(ModuleNotFoundError: No module named 'no_such'\)",
    ),
    (
        "mapper builtins.len",
        RUN_CCL,
        None,
        ccl_entry("mapper: builtins.len"),
        r"{c}: algorithms\.a\.mapper: mapper 'builtins\.len': expected a Python function fn\(geometry, rank\), "
        r"got <built-in function len>",
    ),
    (
        "topology builtins.print",
        RUN_CCL,
        None,
        ccl_entry().replace("topology: ring_1d", "topology: builtins.print"),
        r"{c}: algorithms\.a\.topology: topology 'builtins\.print': expected a Python function fn\(rank, world_size\), "
        r"got <built-in function print>",
    ),
    (
        "validator with the wrong arity",
        RUN_CCL,
        None,
        ccl_entry("validator: kernbench.ccl.mappers.all_pes"),
        r"{c}: algorithms\.a\.validator: validator 'kernbench\.ccl\.mappers\.all_pes': expected a function "
        r"fn\(shards, pes, geometry\), it takes \(geometry: 'CclGeometry', rank: 'int'\) "
        r"-> 'list\[tuple\[int, int\]\]'",
    ),
    (
        "ccl.yaml duplicate key",
        RUN_CCL,
        None,
        "defaults:\n  algorithm: a\n  algorithm: b\n",
        r"{c}:3:3: duplicate key 'algorithm'",
    ),
    (
        "misspelt kernel_* key",
        RUN_CCL,
        None,
        ccl_entry("kernel_chnk: 4"),
        r"{c}: algorithms\.a\.kernel_chnk: unknown key for kernbench\.ccl\.algorithms\.ring_allreduce\.kernel_args; "
        r"it takes no kernel_\* keys",
    ),
    (
        "ccl.yaml YAML syntax error",
        RUN_CCL,
        None,
        "defaults:\n  algorithm: a\nalgorithms:\n  a: [\n",
        r"{c}:5:1: YAML syntax error: expected the node content, but found '<stream end>'",
    ),
    (
        "ccl.yaml rings too big for the TCM ring region",
        ["topology", "--ccl", "{c}"],
        None,
        ccl_entry("n_slots: 64"),
        r"{c}: algorithms\.a: ccl algorithm 'a': the receive rings of rank 0 cube 0 pe 0 need more than its "
        r"2097152-byte tcm ring region \(each ring 64 x 65536 bytes\); lower n_slots or slot_size",
    ),
    (
        "--algorithm ''",
        ["run", "--bench", "qkv_gemm", "--algorithm", ""],
        None,
        None,
        r"--algorithm '': not an algorithm of ccl\.yaml; entries: ring_allreduce_tcm, .*",
    ),
    (
        "tcm_reserved_mib: 0 (topology)",
        TOPO,
        topology_with("tcm_reserved_mib: 4 ", "tcm_reserved_mib: 0 "),
        None,
        r"{t}: pe\.scheduler\.tcm_reserved_mib: expected int >= 3, got 0 \(its top 2 MiB \+ 4224 bytes hold the IPCQ "
        r"receive rings, the barrier's rings and the credit mailboxes, the rest is the scheduler's staging area for "
        r"tiles\)",
    ),
    (
        "tcm_reserved_mib: 0 (run)",
        RUN_TOPO,
        topology_with("tcm_reserved_mib: 4 ", "tcm_reserved_mib: 0 "),
        None,
        r"{t}: pe\.scheduler\.tcm_reserved_mib: expected int >= 3, got 0 .*",
    ),
    (
        "1 MiB SRAM",
        RUN_TOPO,
        topology_with("size_mib: 32 ", "size_mib: 1 "),
        None,
        r"{t}: cube\.sram\.size_mib: expected int > 8, got 1 \(its top 8 x 1 MiB hold the IPCQ receive rings of the "
        r"cube's 8 PEs\)",
    ),
    (
        "page_bytes: 1",
        RUN_TOPO,
        topology_with("page_bytes: 4096 ", "page_bytes: 1 "),
        None,
        r"{t}: pe\.pe_mmu\.page_bytes: expected int >= 4096 and <= 1073741824, got 1 \(each mapped page is tracked "
        r"separately: smaller pages make a run's memory grow without bound\)",
    ),
    (
        "latency below the time resolution",
        RUN_TOPO,
        topology_with("latency_ns: 500.0 ", "latency_ns: 1.0e-12 "),
        None,
        r"{t}: system\.inter_sip_link\.latency_ns: expected float >= 0\.001, got 1e-12 \(it is the parallel "
        r"engine's lookahead: time \+ lookahead must exceed time up to 1000 s simulated\)",
    ),
    (
        "/dev/zero as --topology",
        ["topology", "--topology", "/dev/zero"],
        None,
        None,
        r"/dev/zero: cannot read: a character device, expected a regular file",
    ),
    (
        "a directory as --ccl",
        ["topology", "--ccl", "/"],
        None,
        None,
        r"/: cannot read: a directory, expected a regular file",
    ),
    ("a file over the size cap", TOPO, "#" * (MAX_INPUT_BYTES + 1), None, r"{t}: cannot read: larger than 16 MiB"),
]


def write(path: Path, content: str | bytes) -> str:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return str(path)


def one_error_line(capsys, argv: list[str]) -> str:
    """Run the CLI in-process; it must exit 2 with nothing on stdout and one line on stderr, returned."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "topology", "ccl", "message"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_bad_input_gives_one_line_and_exit_2(capsys, tmp_path, argv, topology, ccl, message):
    t = write(tmp_path / "topology.yaml", topology) if topology is not None else ""
    c = write(tmp_path / "ccl.yaml", ccl) if ccl is not None else ""
    line = one_error_line(capsys, [arg.format(t=t, c=c) for arg in argv])
    assert re.fullmatch("kernbench: " + message.format(t=re.escape(t), c=re.escape(c)), line), line


def test_a_fifo_is_refused_without_waiting_for_a_writer(capsys, tmp_path):
    fifo = tmp_path / "topology.yaml"
    os.mkfifo(fifo)
    assert one_error_line(capsys, ["topology", "--topology", str(fifo)]) == (
        f"kernbench: {fifo}: cannot read: a FIFO, expected a regular file"
    )


USER_FUNCTIONS = """
def no_pes(geometry, rank):
    return None


def no_peers(rank, world_size):
    return [rank]
"""


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "mapper: user_ccl.no_pes",
            "mapper 'user_ccl.no_pes': rank 0: expected a non-empty list of distinct (cube, pe) "
            "pairs, cube 0..15, pe 0..7; got None",
        ),
        (
            "topology: user_ccl.no_peers",
            "topology 'user_ccl.no_peers': rank 0: expected a dict direction -> peer rank, got list",
        ),
    ],
)
def test_a_user_function_with_a_wrong_answer_is_named(capsys, tmp_path, monkeypatch, line, message):
    (tmp_path / "user_ccl.py").write_text(USER_FUNCTIONS)
    monkeypatch.syspath_prepend(str(tmp_path))
    text = ccl_entry(line) if line.startswith("mapper") else ccl_entry().replace("topology: ring_1d", line)
    ccl = write(tmp_path / "ccl.yaml", text)
    assert one_error_line(capsys, ["topology", "--ccl", ccl]) == f"kernbench: {ccl}: algorithms.a: {message}"
