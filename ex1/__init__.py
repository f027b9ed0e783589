"""ex1: data, model zoo, training engine, results store and theory checks for the CNN assignment."""

import os

# TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX-512 VNNI/BF16 or AMX. On an
# AVX2-only CPU its Eigen kernels train this project's small convolutions 3-4 times slower (a 2-filter
# shallow network: 8.8 ms per step against 2.1 ms with oneDNN; the sheet's network 36 against 26-29 ms).
# It must be set before TensorFlow is imported; a user's own setting wins, and each run's key records
# which kernels trained it, since the two differ in the last bits.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"
