/*
 * What the two modes of the stress test share: stress.c (the driver and
 * the single-thread mode) and stress-threads.c (the 4-thread mode).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_STRESS_H
#define QEMUCORO_STRESS_H

#include <stdint.h>

/* splitmix64: the next number of the sequence kept in *state. */
uint64_t splitmix64(uint64_t *state);

/* Prints the seed and the command line that replays its round. */
void stress_print_replay(uint64_t seed);

/*
 * One round of the 4-thread mode: `workers` coroutines, each running a
 * script drawn from `seed`, on 4 iothreads. Aborts with the seed on a
 * broken invariant or a hang.
 */
void stress_threads_round(uint64_t seed, unsigned workers);

#endif
