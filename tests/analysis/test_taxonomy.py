"""The category taxonomy: one table, every category placed once, and the analyzer uses no other."""

from __future__ import annotations

import costmodel
from costmodel.analysis import taxonomy


def test_every_category_has_exactly_one_kind_and_group():
    for c in taxonomy.CATEGORIES:
        assert sum(c in cats for cats in taxonomy.KINDS.values()) == 1, c
        assert sum(c in cats for cats in taxonomy.GROUPS.values()) == 1, c
        assert taxonomy.KIND_OF[c] in taxonomy.KINDS
        assert taxonomy.GROUP_OF[c] in taxonomy.GROUPS


def test_groupings_only_name_known_categories():
    known = set(taxonomy.CATEGORIES)
    for grouping in (
        taxonomy.MAC_CATEGORIES,
        taxonomy.COPY_CATEGORIES,
        taxonomy.NO_DATA_CATEGORIES,
        set(taxonomy.FEATURE_CATEGORIES),
    ):
        assert set(grouping) <= known


def test_analysis_uses_only_taxonomy_categories():
    seen = set()
    for spec in ("shufflenetv2?width=0.5", "mobilenetv3?mode=small&width=0.5", "vit?depth=2"):
        seen |= set(costmodel.analyze(spec).nodes["category"])
    assert seen - taxonomy.NON_OP_CATEGORIES <= set(taxonomy.CATEGORIES)
