"""tapwatch: watches a fleet of government work apps for empty shells and forced usage."""

import os

# numpy's OpenBLAS starts a thread per core and lets it spin after every matrix product.
# tapwatch's products are small (a page's timestamp fields: 1,000-5,000 rows by 19), and
# on a machine busy with other work those threads made one product 6-20x slower and
# burned a second core (measured: 5,000 rows 58 us on one thread, 368 us wall and 732 us
# of CPU with two, 1.3 ms on a loaded machine). Set before numpy is imported; an operator's
# own OPENBLAS_NUM_THREADS is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
