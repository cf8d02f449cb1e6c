"""How many local workers a job starts when the user does not say: one per core, within free memory."""
from low2high.engine.scale.cluster import WORKER_MEMORY_BYTES, default_workers, threads_per_worker


def test_one_single_threaded_worker_per_core_within_free_memory():
    assert default_workers(cores=2, free_memory=16 * WORKER_MEMORY_BYTES) == 2
    assert threads_per_worker(2, cores=2) == 1
    assert default_workers(cores=64, free_memory=10 * WORKER_MEMORY_BYTES) == 10  # memory bounds it
    assert default_workers(cores=8, free_memory=WORKER_MEMORY_BYTES // 2) == 1  # never none
    assert default_workers(cores=4, free_memory=0) == 4  # a system that does not say: the cores
