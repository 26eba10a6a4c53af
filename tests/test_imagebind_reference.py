"""The rule for the ImageBind reference package: skip without it locally, fail without it in CI,
and CI runs README's exact test command with ``CI=true`` set."""
import re
from pathlib import Path

import pytest
from reference_impl import import_reference, reference_required

REPO = Path(__file__).resolve().parents[1]
MISSING = "imagebind_reference_that_is_not_installed"


def test_missing_reference_skips_locally(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert not reference_required()
    with pytest.raises(pytest.skip.Exception, match="install_reference_impl.sh"):
        import_reference(MISSING)


@pytest.mark.parametrize("value", ["true", "1", "TRUE"])
def test_missing_reference_fails_under_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    assert reference_required()
    with pytest.raises(pytest.fail.Exception, match="CI=true: parity tests must run"):
        import_reference(MISSING)


def test_ci_runs_readmes_test_command_with_ci_set():
    script = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
              if line.strip() and not line.lstrip().startswith("#")]
    command = script[-1]
    assert "export CI=true" in script[:-1]
    assert "bash tests/install_reference_impl.sh .venv" in script[:-1]
    readme = (REPO / "README.md").read_text()
    assert f"(`{command}`) is exactly what `.ci/run` calls" in readme
    install_and_test = re.search(r"^python3 -m venv .*pytest$", readme, re.MULTILINE).group(0)
    assert install_and_test.endswith("&& " + command)
