"""The README's layout table matches the tree: every module it names exists in that folder, and
every module of a package folder is named."""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGES = ("recsys", "data", "models", "training", "evaluation", "components", "pipeline", "serving")


def layout_rows() -> dict[str, str]:
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text[text.index("## Layout"):]
    section = section[:section.index("\n## ", 1)]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| `([^`]+)/` \| (.*) \|$", section, re.M)}


@pytest.mark.parametrize("folder", PACKAGES)
def test_layout_row_names_exactly_the_modules(folder):
    rows = layout_rows()
    assert folder in rows, f"README layout has no row for {folder}/"
    named = set(re.findall(r"`([\w/]+\.py)`", rows[folder])) - {"__init__.py"}
    present = {f for f in os.listdir(os.path.join(ROOT, folder))
               if f.endswith(".py") and f != "__init__.py"}
    assert named - present == set(), f"{folder}/: README names missing files"
    assert present - named == set(), f"{folder}/: README does not name these modules"


def test_every_top_level_folder_has_a_row():
    rows = layout_rows()
    folders = {d for d in os.listdir(ROOT) if os.path.isdir(os.path.join(ROOT, d))
               and not d.startswith((".", "_")) and d not in ("runs", "build", "configs", "scripts")
               and not d.endswith(".egg-info")}
    assert folders - set(rows) == set()
