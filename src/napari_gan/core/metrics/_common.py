"""Functions shared by the metric families: ratios with a defined value at 0/0 and
one-to-one matching of candidate pairs (used by instances and points)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def _ratio(numerator: float, denominator: float, *, both_empty: bool) -> float:
    if denominator > 0:
        return float(numerator) / float(denominator)
    return 1.0 if both_empty else 0.0


def _best_matching(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One-to-one matching of candidate pairs: most pairs, then largest total weight.

    ``weights`` lie in [0, 1]. Returns the indices of the chosen candidates. Each
    connected group of candidates is solved on its own, so cost grows with the size
    of the groups, not with the number of objects.
    """
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    row_ids, r = np.unique(rows, return_inverse=True)
    col_ids, c = np.unique(cols, return_inverse=True)
    if row_ids.size == rows.size and col_ids.size == cols.size:
        return np.arange(rows.size)  # no object has two candidates: nothing to choose
    n_r = row_ids.size
    graph = coo_matrix((np.ones(rows.size), (r, c + n_r)), shape=(n_r + col_ids.size,) * 2)
    _, component = connected_components(graph, directed=False)
    edge_component = component[r]
    order = np.argsort(edge_component, kind="stable")
    bounds = np.flatnonzero(np.diff(edge_component[order])) + 1
    chosen = []
    for group in np.split(order, bounds):
        if group.size == 1:
            chosen.append(group)
            continue
        g_rows, gr = np.unique(r[group], return_inverse=True)
        g_cols, gc = np.unique(c[group], return_inverse=True)
        k = min(g_rows.size, g_cols.size)
        # each pair is worth 1 plus a bonus whose total stays below 1/2, so the count
        # of pairs comes first and the weights only break ties between maximal matchings
        cost = np.zeros((g_rows.size, g_cols.size))
        cost[gr, gc] = -1.0 - weights[group] / (2.0 * k)
        edge = np.full(cost.shape, -1, dtype=np.int64)
        edge[gr, gc] = group
        i, j = linear_sum_assignment(cost)
        picked = edge[i, j]
        chosen.append(picked[picked >= 0])
    return np.sort(np.concatenate(chosen))
