"""Figures without pyplot, for the library's and the studies' plotting functions.

A ``matplotlib.figure.Figure`` made directly is not registered with pyplot and needs no backend:
it saves to a file anywhere (no display, no ``matplotlib.use``), and it leaves the caller's
pyplot state alone, so a notebook that runs a study keeps its inline backend and ``plt.show()``
still renders its own figures.
"""

from __future__ import annotations


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, **kwargs):
    """``(Figure, axes)`` as ``plt.subplots`` returns them, outside pyplot."""
    from matplotlib.figure import Figure  # matplotlib: heavy, imported when plotting

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def get_cmap(name: str):
    """The registered colormap ``name`` (``plt.get_cmap`` without pyplot)."""
    import matplotlib  # heavy, imported when plotting

    return matplotlib.colormaps[name]
