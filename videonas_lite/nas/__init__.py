"""Differentiable architecture search for video: the search space, the relaxation and its gradients.

Vocabulary, one word per concept across the modules (Peng et al. 2019; PV-NAS 2020; DARTS):

* **op** (operator): one candidate operation on a ``(N, C, T, H, W)`` clip, e.g. Peng's ``Conv_3``
  (nas/ops.py; notebook 02). An **op set** is a paper's list of them (Peng Table 1, PV-NAS O_s and O_t).
* **state**: a tensor inside a cell. States 0 and 1 are the cell's two inputs (the previous two cells'
  outputs), state ``2 + i`` is intermediate node ``i`` (nas/cells.py ``edge_list``).
* **edge**: ``(source state, target node)``; a cell of ``n`` nodes has ``M = (n + 1)(n + 2) / 2 - 1``. In a
  search cell every edge is a *mixed edge* (``MixedOp``), holding every op of the op set.
* **alpha**: the architecture parameters, one ``M x |O|`` tensor per cell kind (one row per edge).
* **op weights**: ``softmax(alpha)`` over each edge's ops, the mixing weights of PV-NAS Eq. 2. Not to be
  confused with the **weights** ``w`` of the ops themselves (Peng Eq. 1's lower level).
* **cell kind**: the cells that share one alpha tensor, and so one genotype: Peng's ``normal`` and
  ``reduce``; PV-NAS's ``S-NC``, ``S-RC``, ``T-NC``, ``T-RC`` (nas/networks.py ``PVNAS_PLAN``).
* **genotype**: the discrete architecture derived from the alphas, per cell kind a list of
  ``(op, source state, target node)`` (nas/genotype.py; notebook 06).

Modules, in reading order: ops, cells (the definition), networks, space, bilevel, finite_difference,
genotype; then what makes them fast or checks them: kernels, fused, reference, tiny_problem, cost, trace
(a clip followed cell by cell through a search network; notebook 03).
"""
