# The thread pool's tests under TSan too (see check-tsan in
# mk/sanitizers.mk); included after it, so these add to its lists.
TSAN_TESTS += /thread-pool
