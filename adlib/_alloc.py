"""Keep freed memory for reuse, as the caching allocators of larger frameworks do.

Reverse mode keeps every intermediate alive until the backward pass and then
allocates a cotangent of the same size for each.  With glibc's default
settings, arrays above 128 KiB are mapped fresh from the operating system and
handed back on release, so each new array pays a page fault per 4 KiB page;
on arrays of 10^5 doubles that costs more than the arithmetic.  Raising the
mmap threshold (to its maximum, 32 MiB) and the trim threshold lets NumPy's
temporaries be recycled from the heap instead.  This changes the allocator of
the whole process, so it is stated where users look: the API page, the
README and ``adlib``'s docstring.  ``import adlib`` calls :func:`tune_malloc`
once; set the environment variable ``ADLIB_MALLOC_TUNING=0`` before importing
adlib to leave the allocator alone.  On systems without glibc it does nothing.

Measured with ``make bench`` (2-core machine): without these settings adlib's
gradient of the Rosenbrock function on 10^5 entries took about 20 times the
hand-written gradient instead of about 3 times, far past the ≤ 4 target, so
the default stays on.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

applied = False


def tune_malloc() -> bool:
    """Keep freed memory for reuse: raise glibc's mmap and trim thresholds.

    Called once by ``import adlib`` (unless ``ADLIB_MALLOC_TUNING=0``); calling
    it again does nothing.  Affects the whole process, not only adlib.

    Returns
    -------
    bool
        Whether the settings are in effect (``False`` without glibc or when
        opted out).
    """
    global applied
    if applied or os.environ.get("ADLIB_MALLOC_TUNING", "1") == "0":
        return applied
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    applied = bool(mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)) and \
        bool(mallopt(_M_TRIM_THRESHOLD, 1024 * 1024 * 1024))
    return applied
