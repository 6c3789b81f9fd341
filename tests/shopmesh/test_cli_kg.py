"""``shopmesh kg facts`` and ``kg related`` on a saved graph holding the grocery catalogue, in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ensemble.datasets import load_grocery_catalogue
from ensemble.datasets.grocery import bundled_grocery_dir
from knowledge_graph import BuildConfig, build_graph
from shopmesh.cli import main
from tests.cluster.conftest import orders_frame


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace whose graph has the small shop's orders and the bundled Grocery Store catalogue."""
    home = tmp_path_factory.mktemp("home")
    graph = build_graph(orders_frame(), BuildConfig(min_support=1, min_category_products=1))
    graph.add_catalogue(load_grocery_catalogue(bundled_grocery_dir() / "products.csv"))
    graph.save(home / "graph")
    return home


def test_kg_facts_of_a_grocery_code_as_typed(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--home", str(home), "kg", "facts", "gs-62"])
    facts = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (facts["name"], facts["category"], facts["department"]) == ("Carrots", "Carrots", "Vegetables")


def test_kg_facts_name_the_catalogue_photo_within_the_data_set_not_on_this_machine(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Execute
    code = main(["--home", str(home), "kg", "facts", "gs-62"])
    printed = capsys.readouterr().out
    # Assert: the photo's path is relative to the data set folder, where the file is; no folder of this machine
    image = json.loads(printed)["iconic_image"]
    assert code == 0 and image == "iconic/Carrots_Iconic.jpg"
    assert (bundled_grocery_dir() / image).is_file()
    assert str(bundled_grocery_dir().parent) not in printed


def test_kg_related_by_name_names_the_product_and_neighbours(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Execute: the two bell peppers share the coarse class Pepper; carrots are the other vegetable.
    code = main(["--home", str(home), "kg", "related", "red bell pepper", "-k", "2"])
    # Assert
    answer = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (answer["stock_code"], answer["merchant"]) == ("gs-71", "grocery-store")
    assert [(r["stock_code"], r["relation"]) for r in answer["related"]] == [
        ("gs-72", "same_category"),
        ("gs-62", "same_department"),
    ]


def test_kg_related_of_nothing_known_says_so(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--home", str(home), "kg", "related", "qwzxv"])
    assert code == 1
    assert json.loads(capsys.readouterr().out)["related"] == []
