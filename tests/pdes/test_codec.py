import numpy as np
import pytest

from pdes.codec import CodecError, decode, encode, pack, roundtrip, unpack


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int32", "uint64", "bool", "complex64"])
def test_numpy_arrays_roundtrip_bit_exact(dtype):
    rng = np.random.default_rng(1)
    arr = (rng.standard_normal((3, 5)) * 100).astype(dtype)
    out = roundtrip(arr)
    assert out.dtype == arr.dtype
    assert out.shape == arr.shape
    assert out.tobytes() == arr.tobytes()


def test_non_contiguous_and_empty_arrays():
    arr = np.arange(24, dtype=np.int32).reshape(4, 6)[:, ::2]
    assert np.array_equal(roundtrip(arr), arr)
    empty = np.zeros((0, 3), dtype=np.float32)
    assert roundtrip(empty).shape == (0, 3)


def test_decoded_array_is_a_writable_copy():
    arr = np.ones(4)
    out = roundtrip(arr)
    out[0] = 5
    assert arr[0] == 1


def test_numpy_scalars_keep_their_dtype():
    for value in (np.float32(1.5), np.int64(-3), np.uint8(200), np.float16(0.1)):
        out = roundtrip(value)
        assert out.dtype == value.dtype
        assert out == value


def test_nested_structures():
    payload = {"a": [1, 2.5, None, True], "b": b"raw", "c": {"x": np.arange(3)}, 7: "int key"}
    out = decode(encode(payload))
    assert out["a"] == [1, 2.5, None, True]
    assert out["b"] == b"raw"
    assert out[7] == "int key"
    assert np.array_equal(out["c"]["x"], np.arange(3))


def test_floats_are_exact():
    values = [0.1, 1e-300, 2.0**-1074, 1.7976931348623157e308, -0.0]
    assert [v.hex() for v in roundtrip(values)] == [v.hex() for v in values]


def test_unencodable_objects_are_refused_with_the_type_name():
    with pytest.raises(CodecError, match="object"):
        encode(object())
    with pytest.raises(CodecError, match="dtype object"):
        encode(np.array([object()]))


@pytest.mark.parametrize("value", [None, True, False, 0, -(2**63), 2**64 - 1, 1.5, -0.0, float("inf"), "", "abc"])
def test_pack_carries_immutable_scalars_as_they_are_and_they_equal_a_roundtrip(value):
    assert pack(value) is value
    out = roundtrip(value)
    assert type(out) is type(value)
    assert out == value or out != out
    assert unpack(pack(value)) is value


@pytest.mark.parametrize("value", [[1, 2], (1,), {"a": 1}, b"raw", "héllo", np.float64(2.5), np.int32(3), np.ones(2)])
def test_pack_encodes_everything_else_so_the_receiver_gets_a_copy(value):
    carried = pack(value)
    assert type(carried) is bytes
    out = unpack(carried)
    assert type(out) is type(roundtrip(value))
    assert np.array_equal(out, roundtrip(value)) if isinstance(value, np.ndarray) else out == roundtrip(value)


def test_pack_refuses_what_encode_refuses():
    with pytest.raises(CodecError):
        pack(2**64)
    with pytest.raises(CodecError):
        pack("\udc80")
    with pytest.raises(CodecError):
        pack(object())
