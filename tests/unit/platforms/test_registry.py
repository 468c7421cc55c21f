"""The platform registry: which platforms have adapters, and lazy loading of their packages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from oms.domain.errors import ErrorCode, UnknownPlatformError
from oms.domain.model import Platform
from oms.platforms import ADAPTER_MODULES, get_adapter, supported_platforms
from oms.platforms.base import PlatformAdapter

ROOT = Path(__file__).resolve().parents[3]


def test_supported_platforms_are_the_ones_with_a_package() -> None:
    # every platform of the canonical model has its package now
    assert set(supported_platforms()) == set(Platform)
    assert supported_platforms() == tuple(ADAPTER_MODULES)


@pytest.mark.parametrize("platform", list(ADAPTER_MODULES))
def test_every_supported_platform_resolves_to_its_own_adapter(platform: Platform) -> None:
    # WHEN the adapter is looked up by the platform's wire name
    adapter = get_adapter(str(platform))
    # THEN it satisfies the protocol and says which platform it is
    assert isinstance(adapter, PlatformAdapter)
    assert adapter.platform is platform
    assert adapter.max_body_bytes > 0
    assert adapter.default_base_url.startswith("https://")


def test_a_lookup_by_enum_member_gives_the_same_adapter() -> None:
    assert get_adapter(Platform.WECHAT_CHANNELS) is get_adapter("wechat_channels")


@pytest.mark.parametrize(
    "name",
    [
        "tiktok",  # no such platform
        "WECHAT_CHANNELS",  # names are case-sensitive wire values
        "",
        "oms.platforms.wechat_channels",
        "../douyin",
    ],
)
def test_anything_else_is_an_unknown_platform(name: str) -> None:
    with pytest.raises(UnknownPlatformError) as caught:
        get_adapter(name)
    assert caught.value.code is ErrorCode.UNKNOWN_PLATFORM
    assert caught.value.details["supported"] == [str(platform) for platform in ADAPTER_MODULES]


def _modules_loaded_after(code: str) -> list[str]:
    """The oms.platforms.* modules a fresh interpreter holds after running ``code``."""
    script = (
        f"import sys, json\n{code}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('oms.platforms.'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT / 'layers' / 'shared'}:{ROOT}", "PATH": "/usr/bin:/bin"},
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def test_importing_the_registry_loads_no_adapter_package() -> None:
    loaded = _modules_loaded_after("import oms.platforms")
    assert not any(module.startswith(tuple(ADAPTER_MODULES.values())) for module in loaded)


def test_a_lookup_loads_only_the_platform_asked_for() -> None:
    loaded = _modules_loaded_after("from oms.platforms import get_adapter; get_adapter('wechat_channels')")
    assert "oms.platforms.wechat_channels" in loaded
    assert not any(module.startswith(("oms.platforms.douyin", "oms.platforms.shopify")) for module in loaded)
