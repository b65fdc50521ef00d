"""WorkerError: a failed worker's exception as plain data, and back as an exception on another process."""

import pickle

import pytest

from kernbench.runtime.worker_errors import RemoteWorkerError, WorkerError, user_frame
from pdes.codec import decode, encode


def raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_summary_goes_through_msgpack_and_names_where_user_code_raised():
    summary = WorkerError.of(1, raised(KeyError("missing weight")))
    again = WorkerError.from_wire(decode(encode(summary.to_wire())))
    assert again == summary
    assert summary.where == f"test_worker_errors.py:{raised.__code__.co_firstlineno + 2}"
    assert summary.headline() == f"KeyError: 'missing weight' (at {summary.where})"
    assert "raise exc" in summary.stack
    assert summary.traceback.rstrip().endswith("KeyError: 'missing weight'")


def test_recreated_exception_keeps_type_name_builtin_base_message_and_traceback():
    summary = WorkerError.of(1, raised(KeyError("missing weight")))
    exc = summary.exception()
    assert isinstance(exc, KeyError)
    assert isinstance(exc, RemoteWorkerError)
    assert type(exc).__name__ == "KeyError"
    assert str(exc) == "'missing weight'"
    assert "raise exc" in exc.__notes__[0]
    assert exc.summary is summary
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc)
    assert back.summary == summary


def test_exceptions_without_a_builtin_or_a_simple_constructor_come_back_as_remote_worker_errors():
    class KernelFault(Exception):
        pass

    custom = WorkerError.of(0, raised(KernelFault("bad PE"))).exception()
    assert type(custom).__name__ == "KernelFault"
    assert isinstance(custom, RemoteWorkerError)
    unicode = WorkerError.of(0, raised(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"))).exception()
    assert isinstance(unicode, RemoteWorkerError)
    assert "can't decode" in str(unicode)
    exit_ = WorkerError.of(0, raised(SystemExit(3))).exception()
    assert not isinstance(exit_, SystemExit)
    assert WorkerError.of(0, raised(SystemExit(3))).headline().startswith("SystemExit: 3")


def test_user_frame_skips_library_frames():
    import numpy as np

    with pytest.raises(ValueError, match="cannot reshape") as exc:
        np.zeros(3).reshape(7)  # raised inside numpy, which this test called
    assert user_frame(exc.value).startswith("test_worker_errors.py:")
