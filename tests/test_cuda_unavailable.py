"""Where CUDA can't be used, the registry says precisely why (runs on GPU-less machines)."""

from __future__ import annotations

import re

import pytest
import zerowasm

# Every reason the CUDA backend gives for being unusable, as emitted by
# csrc/backend/cuda (driver loading, cuInit, device checks, kernel loading).
KNOWN_REASONS = [
    r"^not built \(no CUDA toolkit",
    r"^\S*(libcuda\.so\.1|nvcuda\.dll) not found \(is the NVIDIA driver installed\?\): .+",
    r" lacks cu\w+.* \(driver too old\?",
    r"^cuInit failed: CUDA_ERROR_\w+",
    r"^the CUDA driver reports no devices$",
    r" is sm_\d+; zerowasm's CUDA kernels need sm_80",
    r"^loading the embedded CUDA kernels \(.+\) on .+ failed: CUDA_ERROR_\w+",
    r"can neither map registered host memory nor use managed memory",
    r"^ZEROWASM_CUDA_DEVICE=",
]


def test_unavailable_cuda_names_its_reason() -> None:
    details = {name: (available, detail) for name, available, detail in zerowasm.backend_details()}
    assert "cuda" in details, "the registry always lists cuda, built or not"
    available, detail = details["cuda"]
    if available:
        pytest.skip(f"CUDA is available here: {detail}")
    print(f"cuda unavailable: {detail}")
    assert any(re.search(p, detail) for p in KNOWN_REASONS), detail
    with pytest.raises(zerowasm.Error, match="cuda"):
        zerowasm.Runtime("cuda")
    assert zerowasm.Runtime("auto").backend != "cuda"
