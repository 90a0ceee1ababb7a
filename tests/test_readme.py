"""The README opens with the two set-up commands, and CI runs the second one verbatim."""

from __future__ import annotations

from tests.conftest import REPO


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_two_commands():
    first_block_at = (REPO / "README.md").read_text().index("```bash")
    assert first_block_at < 40  # right under the title
    demo, tests = _readme_commands()
    assert "trailmon demo --out" in demo and demo.startswith("pip install -e .")
    assert "pytest" in tests and '.[test]' in tests


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == _readme_commands()[1]
