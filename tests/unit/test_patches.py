"""Patches of other libraries: same wrappers, headers and counts as the originals; other versions skipped."""

from __future__ import annotations

import gc
import logging
from types import SimpleNamespace

import pytest
import simple_di
from starlette.responses import Response

from credit_scoring.patches import (
    BENTOML_CHECKED,
    _headers_without_injection,
    _memoised_local_call,
    _replace,
    apply_bentoml_speedups,
    patch_whylogs_float_split,
    version_matches,
)


class Instance:
    """Stands for a service instance (hashable, weakly referenceable)."""


def test_the_method_wrapper_is_built_once_per_method_and_instance() -> None:
    built: list[str] = []

    def local_call(method: SimpleNamespace, instance: Instance) -> object:
        built.append(method.name)
        return object()

    memoised = _memoised_local_call(local_call)
    score, explain = SimpleNamespace(name="score"), SimpleNamespace(name="explain")
    first, second = Instance(), Instance()
    assert memoised(score, first) is memoised(score, first)
    assert memoised(explain, first) is not memoised(score, first)
    assert memoised(score, second) is not memoised(score, first)
    assert len(built) == 3
    del second
    gc.collect()  # a service instance gone takes its wrappers with it (no id reused by a new one)
    assert len(memoised.wrappers) == 1  # type: ignore[attr-defined]


def test_headers_are_those_of_bentomls_injected_function() -> None:
    from _bentoml_impl.server.app import ServiceAppFactory

    apply_bentoml_speedups()
    patched = ServiceAppFactory._add_response_headers
    stock = simple_di.inject(patched.__wrapped__)  # BentoML's own definition: @inject on the same code
    factory = SimpleNamespace(service=SimpleNamespace(name="credit_scoring"))
    ours, theirs = Response(b"{}"), Response(b"{}")
    patched(factory, ours)
    stock(factory, theirs)
    assert ours.headers.items() == theirs.headers.items()
    assert ours.headers["server"] == "BentoML Service/credit_scoring"


def test_both_costs_are_patched_once_on_this_bentoml() -> None:
    from _bentoml_sdk.method import APIMethod

    names = ["APIMethod._local_call", "ServiceAppFactory._add_response_headers"]
    assert apply_bentoml_speedups() == names
    patched = APIMethod._local_call
    assert apply_bentoml_speedups() == names and APIMethod._local_call is patched


def test_code_of_another_shape_is_left_alone_and_said(caplog: pytest.LogCaptureFixture) -> None:
    class Changed:
        def _local_call(self, instance: object, extra: int) -> None: ...

        def _add_response_headers(self, resp: Response) -> None: ...  # no longer injected

    original = Changed.__dict__["_local_call"]
    with caplog.at_level(logging.WARNING):
        assert not _replace(Changed, "_local_call", _memoised_local_call, ["self", "instance"])
        assert not _replace(Changed, "_add_response_headers", _headers_without_injection, None)
    assert Changed.__dict__["_local_call"] is original
    assert caplog.text.count("not sped up") == 2


def test_a_patch_checked_on_another_version_is_skipped_and_said(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert version_matches("bentoml", BENTOML_CHECKED, "bentoml_speedups")
        assert not version_matches("bentoml", "0.0.1", "bentoml_speedups")
        assert not version_matches("no-such-library-here", "1.0", "imaginary")
    assert caplog.text.count("patch skipped") == 2


def test_whylogs_is_patched_once_with_its_original_kept() -> None:
    from credit_scoring.monitoring._whylogs import PreprocessedColumn

    patched = PreprocessedColumn._pandas_split
    patch_whylogs_float_split()
    assert PreprocessedColumn._pandas_split is patched and callable(patched.__wrapped__)
