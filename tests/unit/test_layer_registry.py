"""One unit, four places: each layer's module, config type, doc page and test file agree."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from vallum.layers import layer_types
from vallum.pipeline.layer import Layer, LayerConfig

ROOT = Path(__file__).resolve().parents[2]
HEADINGS = ["Threat", "How it works", "Config", "Limits", "Example"]
LAYERS = sorted(layer_types().items())


def test_registry_is_not_empty_and_has_validate() -> None:
    assert "validate" in layer_types()


@pytest.mark.parametrize(("name", "cls"), LAYERS, ids=[name for name, _ in LAYERS])
def test_name_module_and_config_type_agree(name: str, cls: type[Layer[Any]]) -> None:
    assert issubclass(cls, Layer)
    assert cls.name == name
    assert cls.__module__.split(".")[:2] == ["vallum", "layers"]
    assert cls.__module__.split(".")[2] == name, f"{cls} lives in {cls.__module__}"
    assert issubclass(cls.Config, LayerConfig)
    type_field = cls.Config.model_fields["type"]
    assert type_field.default == name
    assert cls.Config.model_config.get("extra") == "forbid"


@pytest.mark.parametrize(("name", "cls"), LAYERS, ids=[name for name, _ in LAYERS])
def test_every_config_field_is_described(name: str, cls: type[Layer[Any]]) -> None:
    undocumented = [
        field
        for field, info in cls.Config.model_fields.items()
        if not info.description and field not in ("type", "on_error")
    ]
    assert not undocumented, f"{name}: fields without a description: {undocumented}"


@pytest.mark.parametrize(("name", "cls"), LAYERS, ids=[name for name, _ in LAYERS])
def test_layer_has_a_doc_page_with_the_standard_headings(name: str, cls: type[Layer[Any]]) -> None:
    page = ROOT / "docs" / "layers" / f"{name}.md"
    assert page.is_file(), f"missing {page.relative_to(ROOT)}"
    headings = re.findall(r"^##\s+(.+?)\s*$", page.read_text(encoding="utf-8"), re.MULTILINE)
    positions = []
    for wanted in HEADINGS:
        matches = [i for i, heading in enumerate(headings) if heading.lower() == wanted.lower()]
        assert matches, f"{page.relative_to(ROOT)} lacks a '## {wanted}' heading"
        positions.append(matches[0])
    assert positions == sorted(positions), f"{page.relative_to(ROOT)}: headings out of order"


@pytest.mark.parametrize(("name", "cls"), LAYERS, ids=[name for name, _ in LAYERS])
def test_layer_has_a_test_file(name: str, cls: type[Layer[Any]]) -> None:
    test_file = ROOT / "tests" / "unit" / "layers" / f"test_{name}.py"
    assert test_file.is_file(), f"missing {test_file.relative_to(ROOT)}"
