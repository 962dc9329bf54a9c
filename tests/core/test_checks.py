"""checks: argument checks and outputs shared by the kernels."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.core.checks import (
    ERR_SIM,
    check_csr,
    check_n,
    check_similarity,
    int_array,
    outputs,
    raise_kernel_errors,
    writable,
)


def test_check_n() -> None:
    assert check_n(np.int64(3)) == 3
    for bad, error in [(0, ValueError), (-2, ValueError), (2.5, TypeError), (True, TypeError)]:
        with pytest.raises(error, match="n must be"):
            check_n(bad)


def test_check_csr_converts_and_names_the_argument() -> None:
    ip, ix = check_csr([0, 2, 2], np.array([1, 0], dtype=np.uint8), 2, 3, "query")
    assert ip.dtype == np.int64 and ix.dtype == np.int32 and ix.flags.writeable
    with pytest.raises(ValueError, match=r"query_indptr must have length n_queries \+ 1 = 3"):
        check_csr([0, 1], [0], 2, 3, "query")
    with pytest.raises(ValueError, match="query_indptr must start at 0 and end at len"):
        check_csr([1, 1, 1], [], 2, 3, "query")
    with pytest.raises(ValueError, match="query_indptr must be non-decreasing"):
        check_csr([0, 2, 1], [0], 2, 3, "query")
    with pytest.raises(ValueError, match=r"query_indices must hold item ids in \[0, 3\)"):
        check_csr([0, 1, 1], [3], 2, 3, "query")
    with pytest.raises(TypeError, match="query_indices must be an integer array"):
        check_csr([0, 1, 1], [0.5], 2, 3, "query")
    with pytest.raises(ValueError, match="query_indptr must be 1-D"):
        check_csr([[0, 1, 1]], [0], 2, 3, "query")


def test_similarity_outline() -> None:
    ip, ix, data = check_similarity([0, 1, 1], [1], [1])
    assert (ip.dtype, ix.dtype, data.dtype) == (np.int64, np.int32, np.float32)
    with pytest.raises(ValueError, match="sim_indptr must have length"):
        check_similarity([], [], [])
    with pytest.raises(ValueError, match="sim_data must have the shape of sim_indices"):
        check_similarity([0, 1], [0], [1.0, 2.0])


def test_int_array_accepts_empty_float_and_copies_read_only() -> None:
    assert int_array(np.array([]), np.int32, "x").dtype == np.int32
    frozen = np.arange(3, dtype=np.int32)
    frozen.setflags(write=False)
    assert int_array(frozen, np.int32, "x").flags.writeable
    writeable = np.arange(3, dtype=np.int32)
    assert int_array(writeable, np.int32, "x") is writeable
    assert writable(writeable) is writeable


def test_outputs_and_errors() -> None:
    out = outputs(2, 3)
    assert out.ids.shape == (2, 3) and out.positions.shape == (0, 0) and not out.err.any()
    out.err[1] = ERR_SIM
    with pytest.raises(ValueError, match="not a valid CSR"):
        raise_kernel_errors(out.err)
