"""glibc allocator tuning for processes that churn through large tensors.

With glibc's defaults every large tensor is a fresh ``mmap`` that is returned to the kernel when freed,
so a training step spends most of its time in page faults (100 % system time on small VMs, 5-20x slower).
Keeping freed memory in the heap avoids that.
"""

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD_BYTES = 1 << 30


def tune_allocator() -> bool:
    """Make glibc keep freed memory instead of unmapping it. Returns False where glibc is absent."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
