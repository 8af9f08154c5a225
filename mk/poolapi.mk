# The thread pool's tests under the sanitizers (see check-tsan in the
# Makefile). Its no-context abort and min-threads tests fork after the pool's
# workers have started, which TSan refuses (die_after_fork), so they stay
# out of TSan.
TSAN_TESTS += /thread-pool
TSAN_SKIP += --skip /thread-pool/submit-aio/no-context-aborts
TSAN_SKIP += --skip /thread-pool/params/min-threads-start-and-stop
