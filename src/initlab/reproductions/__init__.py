"""The reproductions, one module per source; ``python -m initlab.reproduce`` runs them.

:data:`REPRODUCTIONS` maps each one's name to its
:class:`initlab.reproductions.reproduction.Reproduction`, in the order the page shows them.

Modules: ``reproduction`` (what a reproduction and its checks are) and one per source:
``cs231n``, ``dlfs``, ``fixup2019``, ``glorot2010``, ``he2015``, ``irnn2015``, ``lsuv2016``,
``pennington2017``, ``poole2016``, ``saxe2013``, ``schoenholz2017``, ``udacity``,
``yang2021``, ``zta``; and ``trainable_region`` (a sweep's trainable region over a
hyperparameter and depth) and ``lr_transfer`` (a grid's best learning rate at each width).

May import: anything but the entry points.
"""

from __future__ import annotations

from initlab.reproductions import (
    cs231n,
    dlfs,
    fixup2019,
    glorot2010,
    he2015,
    irnn2015,
    lsuv2016,
    pennington2017,
    poole2016,
    saxe2013,
    schoenholz2017,
    udacity,
    yang2021,
    zta,
)

REPRODUCTIONS = {
    r.name: r
    for module in (
        udacity,
        cs231n,
        dlfs,
        zta,
        glorot2010,
        he2015,
        saxe2013,
        poole2016,
        schoenholz2017,
        pennington2017,
        lsuv2016,
        fixup2019,
        irnn2015,
        yang2021,
    )
    for r in module.REPRODUCTIONS
}
