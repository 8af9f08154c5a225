# The thread pool's tests under the sanitizers (see check-tsan in the
# Makefile). Its no-context abort test forks after the pool's workers have
# started, which TSan refuses (die_after_fork), so it stays out of TSan.
TSAN_TESTS += /thread-pool
TSAN_SKIP += --skip /thread-pool/submit-aio/no-context-aborts
