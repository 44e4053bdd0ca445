from pathlib import Path

import unlearn
from unlearn import method_table
from unlearn.references import reference

ROOT = Path(__file__).resolve().parent.parent


def test_every_registered_id_has_a_reference_and_a_row():
    table = method_table.rows()
    listed = {(row["family"], i) for row in table for i in row["ids"].split()}
    for family in method_table.FAMILIES:
        for name in unlearn.available(family):
            assert reference(family, name) is not None, f"{family} {name}: add it to unlearn/references.py"
            assert (family, name) in listed, f"{family} {name} is missing from the method table"


def test_committed_method_table_matches_the_registry():
    committed = (ROOT / "results" / "methods.md").read_text().split("\n\n", 1)[1]  # after the provenance line
    assert committed == method_table.markdown(method_table.rows()), "run python -m unlearn.method_table"
