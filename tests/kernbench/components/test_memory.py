"""Memories hold real bytes: bit-exact round trips, sparse pages, zero-filled holes, bounds errors."""

import tracemalloc

import numpy as np
import pytest

from kernbench.components import PAGE_BYTES, Memory

GIB, MIB = 1 << 30, 1 << 20


@pytest.mark.parametrize(
    ("name", "size"),
    [("hbm", 48 * GIB), ("sram", 32 * MIB), ("tcm", 16 * MIB), ("m_cpu", 512 * 1024)],
)
def test_round_trip_is_bit_exact(name, size):
    mem = Memory(name, size)
    rng = np.random.default_rng(3)
    cases = [(0, 1), (12345, 4096), (PAGE_BYTES - 100, 300), (size - 777, 777), (size // 2 - 5, 3 * PAGE_BYTES // 2)]
    for offset, n in cases:
        offset = min(offset, size - 1)
        n = min(n, size - offset)
        data = rng.integers(0, 256, n, dtype=np.uint8)
        mem.write(offset, data)
        assert np.array_equal(mem.read(offset, n), data)
        assert mem.read(offset, n).dtype == np.uint8
    assert mem.read(size - 777, 777).tobytes() == bytes(mem.read(size - 777, 777))


def test_typed_arrays_and_bytes_are_stored_as_raw_bytes():
    mem = Memory("tcm", 16 * MIB)
    values = np.array([1.5, -0.0, np.inf, np.nan, 3.0e-45], dtype=np.float32)
    values[3] = np.frombuffer(np.uint32(0x7FC00123).tobytes(), dtype=np.float32)[0]  # a NaN with a payload
    mem.write(PAGE_BYTES - 6, values)  # straddles a page boundary
    back = mem.read(PAGE_BYTES - 6, values.nbytes).view(np.float32)
    assert back.tobytes() == values.tobytes()
    matrix = np.arange(12, dtype=np.int16).reshape(3, 4).T  # not C-contiguous: stored in C order of the view
    mem.write(0, matrix)
    assert np.array_equal(mem.read(0, matrix.nbytes).view(np.int16), np.ascontiguousarray(matrix).ravel())
    mem.write(100, b"\x01\x02\x03")
    mem.write(103, bytearray(b"\x04"))
    assert mem.read(100, 4).tolist() == [1, 2, 3, 4]
    with pytest.raises(TypeError, match="bytes or a numpy array"):
        mem.write(0, [1, 2, 3])


def test_unwritten_bytes_read_as_zero_and_reads_are_copies():
    mem = Memory("sram", 32 * MIB)
    assert not mem.read(5 * MIB, 4096).any()
    mem.write(10, b"\xff" * 8)
    got = mem.read(8, 12)
    assert got.tolist() == [0, 0] + [255] * 8 + [0, 0]
    got[:] = 7
    assert mem.read(8, 12).tolist() == [0, 0] + [255] * 8 + [0, 0]


def test_sparse_allocation_near_the_end_of_48_gib():
    tracemalloc.start()
    try:
        mem = Memory("hbm", 48 * GIB)
        mem.write(48 * GIB - 4096, np.full(4096, 0xAB, dtype=np.uint8))
        got = mem.read(48 * GIB - 4096, 4096)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (got == 0xAB).all()
    assert mem.allocated_bytes == PAGE_BYTES
    assert peak < 4 * MIB  # numpy reports its buffers to tracemalloc: nothing near 48 GiB was allocated


def test_last_page_of_a_small_memory_is_not_oversized():
    mem = Memory("m_cpu", PAGE_BYTES // 2 + 10)
    mem.write(PAGE_BYTES // 2, b"\x01" * 10)
    assert mem.allocated_bytes == PAGE_BYTES // 2 + 10


def test_fill_sets_bytes_and_zero_fill_releases_whole_pages():
    mem = Memory("hbm", 4 * GIB)
    mem.fill(PAGE_BYTES - 2, 4, 0x5A)
    assert mem.read(PAGE_BYTES - 3, 6).tolist() == [0, 0x5A, 0x5A, 0x5A, 0x5A, 0]
    assert mem.allocated_bytes == 2 * PAGE_BYTES
    mem.fill(0, 2 * PAGE_BYTES, 0)
    assert mem.allocated_bytes == 0
    assert not mem.read(PAGE_BYTES - 3, 6).any()
    mem.fill(3 * PAGE_BYTES, 10, 0)  # zeros on never-written memory allocate nothing
    assert mem.allocated_bytes == 0
    mem.write(0, b"\x09" * 16)
    mem.fill(4, 4, 0)  # part of a page: zeroed in place
    assert mem.read(0, 12).tolist() == [9] * 4 + [0] * 4 + [9] * 4
    with pytest.raises(ValueError, match=r"fill byte must be 0\.\.255"):
        mem.fill(0, 1, 256)


@pytest.mark.parametrize(
    ("op", "args"),
    [
        ("read", (16 * MIB - 4, 8)),
        ("read", (-1, 4)),
        ("read", (0, -1)),
        ("write", (16 * MIB, b"x")),
        ("fill", (16 * MIB - 1, 2, 0)),
    ],
)
def test_bounds_errors_name_memory_offset_and_size(op, args):
    mem = Memory("sip0.cube3.pe5.tcm", 16 * MIB)
    with pytest.raises(ValueError, match=r"sip0\.cube3\.pe5\.tcm.*offset .*outside its size of 0x1000000 bytes"):
        getattr(mem, op)(*args)
    assert mem.allocated_bytes == 0


def test_zero_length_access_at_the_end_is_allowed():
    mem = Memory("sram", 1024)
    mem.write(1024, b"")
    mem.write(100, b"")
    assert mem.read(1024, 0).size == 0
    assert mem.allocated_bytes == 0  # an empty write holds no page


def test_scattered_small_writes_hold_one_4_kib_page_each():
    """Receive-ring headers and staging writes land all over a TCM: each holds one MMU-sized page, no more."""
    mem = Memory("tcm", 16 * MIB)
    for k in range(64):
        mem.write(k * 256 * 1024 + 8, np.arange(8, dtype=np.uint8))
    assert PAGE_BYTES == 4096
    assert mem.allocated_bytes == 64 * 4096


def test_a_write_over_many_pages_then_partial_overwrites_read_back_exactly():
    mem = Memory("hbm", 64 * MIB)
    rng = np.random.default_rng(3)
    expected = np.zeros(3 * MIB, dtype=np.uint8)
    data = rng.integers(0, 256, 2 * MIB + 1000, dtype=np.uint8)
    mem.write(100, data)  # unaligned: partial first and last pages, whole pages between
    expected[100 : 100 + data.size] = data
    patch = rng.integers(0, 256, 5000, dtype=np.uint8)
    mem.write(PAGE_BYTES * 7 + 3, patch)  # lands inside pages stored by the bulk copy
    expected[PAGE_BYTES * 7 + 3 : PAGE_BYTES * 7 + 3 + patch.size] = patch
    mem.fill(PAGE_BYTES * 20, PAGE_BYTES, 0)  # releases one of them
    expected[PAGE_BYTES * 20 : PAGE_BYTES * 21] = 0
    assert np.array_equal(mem.read(0, 3 * MIB), expected)


@pytest.mark.parametrize(("size", "page"), [(1 << 16, 4096), (5 * 4096 + 100, 4096), (777, 100)])
def test_random_writes_fills_and_reads_match_a_flat_buffer(size, page):
    """Every path (inside a page, page ends, whole pages, a short last page, unwritten gaps) against plain bytes."""
    rng = np.random.default_rng(size)
    mem, flat = Memory("hbm", size, page), np.zeros(size, dtype=np.uint8)
    for _ in range(2000):
        op, offset = rng.integers(0, 3), int(rng.integers(0, size))
        n = int(rng.integers(0, min(size - offset, 3 * page) + 1))
        if op == 0:
            data = rng.integers(0, 256, n, dtype=np.uint8)
            mem.write(offset, data)
            flat[offset : offset + n] = data
        elif op == 1:
            byte = int(rng.integers(0, 2)) * int(rng.integers(1, 256))  # zeros half the time: pages are given back
            mem.fill(offset, n, byte)
            flat[offset : offset + n] = byte
        else:
            got = mem.read(offset, n)
            assert np.array_equal(got, flat[offset : offset + n])
            got[:] = 7  # a copy
            assert np.array_equal(mem.read(offset, n), flat[offset : offset + n])
    assert mem.allocated_bytes <= size
