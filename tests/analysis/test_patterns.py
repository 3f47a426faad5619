"""Multi-node patterns: dead work a graph-optimising runtime folds away (channel shuffles are
tested with the other ops in test_ops.py)."""

import pytest
from fixtures_models import Dead

import costmodel
from costmodel.analysis import AnalysisError
from costmodel.zoo.nb201 import is_output_connected, live_edges


def test_work_that_only_reaches_the_output_through_a_zero_is_pruned():
    full = costmodel.analyze(Dead(), (1, 4, 8, 8))
    pruned = costmodel.analyze(Dead(), (1, 4, 8, 8), prune_dead=True)
    assert set(full.ops["name"]) == {"conv_a", "conv_b", "relu", "mul", "add"}
    assert set(pruned.ops["name"]) == {"conv_a"}  # the add with a folded zero is the identity
    assert pruned.totals["macs"] == full.totals["macs"] // 2
    assert "prune_dead" in pruned.notes[0]


NB = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|"


def test_nb201_pruning_keeps_exactly_the_live_edges():
    assert live_edges(NB) == [(0, 3)]
    full = costmodel.analyze(f"nb201:{NB}")
    pruned = costmodel.analyze(f"nb201:{NB}", prune_dead=True)
    # only the skip edge lives: every cell's convolutions are folded away, the stem, the two
    # reduction blocks and the classifier remain
    in_edges = pruned.ops["module"].str.contains(".edges.", regex=False)
    assert not (in_edges & pruned.ops["category"].str.startswith("conv")).any()
    assert full.ops["module"].str.contains(".edges.", regex=False).any()
    assert pruned.totals["macs"] < full.totals["macs"]
    assert pruned.totals["mac_nodes"] == 1 + 2 * 3 + 1  # stem, 2 x (conv, conv, shortcut), fc


def test_a_disconnected_cell_folds_the_whole_network():
    arch = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|nor_conv_3x3~2|"
    assert not is_output_connected(arch)
    assert costmodel.analyze(f"nb201:{arch}", prune_dead=True).totals["nodes"] == 0


def test_prune_dead_needs_the_fx_graph():
    with pytest.raises(AnalysisError, match="prune_dead needs the fx graph"):
        costmodel.analyze(Dead(), (1, 4, 8, 8), method="dispatch", prune_dead=True)
