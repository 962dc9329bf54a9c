"""Low-level LLVM intrinsics shared by the core kernels: software prefetch and atomic add.

``prefetch1(arr, i)`` and ``prefetch2(arr, i, k)`` ask the CPU to start
loading the cache line that holds ``arr[i]`` / ``arr[i, k]``.  A prefetch never
faults and is never bounds-checked; it only helps when the address is needed a
few steps later (e.g. the next rows of a sparse walk).
"""

from __future__ import annotations

from llvmlite import binding as _llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

# opaque pointers (LLVM >= 15) renamed the intrinsic's overload
_PREFETCH_NAME = "llvm.prefetch.p0" if _llvm.llvm_version_info >= (15,) else "llvm.prefetch.p0i8"


def _codegen(context, builder, signature, args):  # noqa: ANN001, ANN202 - numba codegen hook
    aryty = signature.args[0]
    ary = context.make_array(aryty)(context, builder, args[0])
    inds = [
        context.cast(builder, value, ty, types.intp)
        for value, ty in zip(args[1:], signature.args[1:], strict=True)
    ]
    ptr = cgutils.get_item_pointer2(
        context,
        builder,
        data=ary.data,
        shape=cgutils.unpack_tuple(builder, ary.shape),
        strides=cgutils.unpack_tuple(builder, ary.strides),
        layout=aryty.layout,
        inds=inds,
        wraparound=False,
    )
    i8p = ir.IntType(8).as_pointer()
    i32 = ir.IntType(32)
    fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH_NAME)
    # read (0), keep in all cache levels (3), data cache (1)
    builder.call(
        fn,
        [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)],
    )
    return context.get_dummy_value()


@intrinsic
def prefetch1(typingctx, arr, i):  # noqa: ANN001, ANN201
    """Prefetch the cache line holding ``arr[i]`` of a 1-D array."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1):
        return None
    return types.void(arr, i), _codegen


@intrinsic
def prefetch2(typingctx, arr, i, k):  # noqa: ANN001, ANN201
    """Prefetch the cache line holding ``arr[i, k]`` of a 2-D array."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2):
        return None
    return types.void(arr, i, k), _codegen


def _fetch_add_codegen(context, builder, signature, args):  # noqa: ANN001, ANN202 - numba codegen hook
    arr_ty, idx_ty, val_ty = signature.args
    ary = context.make_array(arr_ty)(context, builder, args[0])
    index = context.cast(builder, args[1], idx_ty, types.intp)
    value = context.cast(builder, args[2], val_ty, types.int64)
    ptr = cgutils.get_item_pointer(context, builder, arr_ty, ary, [index])
    return builder.atomic_rmw("add", ptr, value, "monotonic")


@intrinsic
def fetch_add(typingctx, arr, idx, val):  # noqa: ANN001, ANN201
    """Atomically ``old = arr[idx]; arr[idx] += val`` and return ``old`` (1-D int64 arrays).

    Threads of a parallel kernel use it to take work chunks from a shared
    counter (dynamic scheduling).
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype == types.int64):
        return None
    return types.int64(arr, idx, val), _fetch_add_codegen
