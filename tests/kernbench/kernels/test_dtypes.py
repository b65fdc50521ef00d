import numpy as np
import pytest

from kernbench.kernels.dtypes import (
    DTYPE_NAMES,
    decode,
    dtype_info,
    encode,
    from_bf16_bits,
    itemsize,
    numpy_dtype_name,
    to_bf16_bits,
)

EXPECTED_ITEMSIZE = {
    "f16": 2, "f32": 4, "bf16": 2, "i8": 1, "i16": 2, "i32": 4, "i64": 8, "u8": 1, "u16": 2, "u32": 4,
}  # fmt: skip


def test_names_and_itemsizes():
    assert set(DTYPE_NAMES) == set(EXPECTED_ITEMSIZE)
    for name, size in EXPECTED_ITEMSIZE.items():
        assert dtype_info(name).itemsize == size == itemsize(name)
    assert dtype_info("bf16").storage == np.dtype(np.uint16)


def test_unknown_dtype_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown dtype 'f64'.*f16, f32, bf16"):
        dtype_info("f64")


@pytest.mark.parametrize(
    ("np_dtype", "name"),
    [(np.float16, "f16"), (np.float32, "f32"), (np.int8, "i8"), (np.int64, "i64"), (np.uint16, "u16"), (">f4", "f32")],
)
def test_numpy_dtype_name(np_dtype, name):
    assert numpy_dtype_name(np.dtype(np_dtype)) == name


@pytest.mark.parametrize("np_dtype", [np.float64, np.bool_, np.complex64, np.uint64])
def test_numpy_dtype_name_refuses_unsupported(np_dtype):
    with pytest.raises(ValueError, match="unsupported numpy dtype"):
        numpy_dtype_name(np_dtype)


# Hand-computed bfloat16 bit patterns (bf16 keeps the top 16 bits of the float32; 7 mantissa bits).
@pytest.mark.parametrize(
    ("value", "bits"),
    [
        (1.0, 0x3F80),
        (-2.0, 0xC000),
        (1.00390625, 0x3F80),  # 1 + 2**-8: exactly half an ulp above 1.0 -> tie -> even (down)
        (1.01171875, 0x3F82),  # 1 + 2**-7 + 2**-8: tie above odd 0x3F81 -> even (up)
        (1.0 + 2**-8 + 2**-20, 0x3F81),  # just above the tie -> up
        (np.float32(np.pi), 0x4049),  # 0x40490FDB: low half 0x0FDB < 0x8000 -> down
        (np.float32(3.4e38), 0x7F80),  # beyond the largest bf16 (0x7F7F) -> rounds to +inf
        (np.inf, 0x7F80),
        (-np.inf, 0xFF80),
    ],
)
def test_to_bf16_bits_rounds_to_nearest_even(value, bits):
    assert int(to_bf16_bits(np.float32(value))) == bits


def test_bf16_nan_stays_nan():
    out = to_bf16_bits(np.array([np.nan, -np.nan], dtype=np.float32))
    assert np.isnan(from_bf16_bits(out)).all()
    # A NaN whose payload sits only in the low 16 bits must not truncate to infinity.
    tricky = np.array([0x7F800001], dtype=np.uint32).view(np.float32)
    assert np.isnan(from_bf16_bits(to_bf16_bits(tricky))).all()


def test_from_bf16_bits_is_exact_and_round_trips():
    bits = np.arange(0, 1 << 16, dtype=np.uint16)
    values = from_bf16_bits(bits)
    assert values.dtype == np.float32
    finite = ~np.isnan(values)
    assert np.array_equal(to_bf16_bits(values[finite]), bits[finite])
    assert values[0x3F80] == 1.0
    assert values[0xC0A0] == -5.0


@pytest.mark.parametrize("name", [n for n in EXPECTED_ITEMSIZE if n != "bf16"])
def test_encode_decode_round_trip(name):
    rng = np.random.default_rng(1)
    info = dtype_info(name)
    if info.storage.kind == "f":
        arr = rng.standard_normal((3, 5)).astype(info.storage)
    else:
        ii = np.iinfo(info.storage)
        arr = rng.integers(ii.min, ii.max, size=(3, 5), endpoint=True).astype(info.storage)
    raw = encode(arr, name)
    assert raw.dtype == np.uint8
    assert raw.ndim == 1
    assert raw.size == arr.size * info.itemsize
    back = decode(raw, name, (3, 5))
    assert back.dtype == info.storage
    assert back.shape == (3, 5)
    assert np.array_equal(back, arr)


def test_encode_is_little_endian_c_order():
    raw = encode(np.array([[1, 2], [3, 0x0102]], dtype=np.int16).T, "i16")  # transposed: C order of the view
    assert raw.tolist() == [1, 0, 3, 0, 2, 0, 2, 1]


def test_encode_casts_values():
    assert decode(encode(np.array([1.75, -3.5]), "i32"), "i32", (2,)).tolist() == [1, -3]
    assert decode(encode(np.array([0.1], dtype=np.float32), "f16"), "f16", (1,))[0] == np.float16(0.1)


def test_bf16_encode_decode():
    values = np.array([[1.0, 1.01171875], [-2.0, 3.0]], dtype=np.float32)
    raw = encode(values, "bf16")
    assert raw.tolist() == [0x80, 0x3F, 0x82, 0x3F, 0x00, 0xC0, 0x40, 0x40]
    back = decode(raw, "bf16", (2, 2))
    assert back.dtype == np.float32
    assert back.tolist() == [[1.0, 1.015625], [-2.0, 3.0]]


def test_decode_returns_fresh_array_and_checks_size():
    raw = encode(np.arange(4, dtype=np.float32), "f32")
    back = decode(raw, "f32", (4,))
    raw[:] = 0
    assert back.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert decode(bytes(encode([7], "u8")), "u8", (1,)).tolist() == [7]
    with pytest.raises(ValueError, match="cannot hold shape"):
        decode(raw, "f32", (5,))
    with pytest.raises(ValueError, match="uint8"):
        decode(np.zeros(4, dtype=np.int32), "f32", (4,))
