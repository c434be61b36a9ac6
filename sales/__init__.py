"""Pure domain of the Codex Sales module: models, ids, arithmetic, ordering, matching.

Nothing in this package performs I/O, so workflows may import it freely.
"""
