# The thread pool's tests under TSan (see check-tsan in the Makefile). The
# no-context abort test forks after the pool's workers have started, which
# TSan refuses (die_after_fork), so it stays out.
TSAN_TESTS += /thread-pool
TSAN_SKIP += --skip /thread-pool/submit-aio/no-context-aborts
