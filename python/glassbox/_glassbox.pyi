"""Type stubs of the native module (python/src/lib.rs). The public API is
in glassbox/__init__.py; these are its building blocks."""

from typing import Any, Callable

import numpy as np
import numpy.typing as npt

CONTRACT: str
__version__: str

_Categorical = list[tuple[npt.NDArray[np.int64], list[str]]]

class NativeModel:
    def describe(self) -> str: ...
    def score(
        self,
        rows: int,
        numeric: npt.NDArray[np.float64] | None,
        categorical: _Categorical,
        per_row: bool = False,
        refused: list[tuple[int, str, str, str]] = ...,
    ) -> dict[str, Any]: ...
    def score_json(self, rows_json: str, per_row: bool = False) -> dict[str, Any]: ...
    def monitor(
        self,
        rows: int,
        numeric: npt.NDArray[np.float64] | None,
        categorical: _Categorical,
        min_rows: int,
        title: str,
    ) -> tuple[str, str]: ...
    def report(self, logs: list[str], min_rows: int) -> tuple[str, str, int]: ...

def load(
    component: bytes,
    label: str,
    deadline_ms: int | None = None,
    memory_mib: int | None = None,
    trusted_keys: list[str] = ...,
    reuse_instances: bool = False,
) -> NativeModel: ...
def compile(
    onnx: bytes,
    names: list[str],
    categorical_names: list[str],
    nullable: list[bool],
    numeric: npt.NDArray[np.float64] | None,
    categorical: _Categorical,
    name: str,
    version: str,
    expectations: str | None = None,
    trees: str = "auto",
    progress: Callable[[str], None] | None = None,
) -> tuple[bytes, str]: ...
