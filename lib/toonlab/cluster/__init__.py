"""The clustering benchmark of chapter 02 (ToyHollyWood's table, reproduced and extended).

- :mod:`~toonlab.cluster.graph` — sparse k-nearest-neighbour affinity and connectivity for large N;
- :mod:`~toonlab.cluster.algorithms` — the five algorithms of the source (KMeans, Agglomerative ward,
  Birch, Spectral, Gaussian mixture) with the feature scaling each expects;
- :mod:`~toonlab.cluster.beyond` — stronger methods for context, outside the faithful table;
- :mod:`~toonlab.cluster.benchmark` — every extractor x algorithm x seed, scored by
  :mod:`toonlab.metrics.clustering`, with wall times; mean ± std tables;
- :mod:`~toonlab.cluster.figures` — PCA / t-SNE scatter, confusion matrix, cluster sample grids.
"""

from toonlab.cluster.algorithms import ALGORITHMS, ClusterConfig, cluster
from toonlab.cluster.benchmark import run_benchmark, summarize

__all__ = ["ALGORITHMS", "ClusterConfig", "cluster", "run_benchmark", "summarize"]
