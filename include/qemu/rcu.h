/*
 * QEMU's RCU thread registration, as no-ops. qemucoro has no RCU: nothing
 * in the library reads RCU-protected data or waits for a grace period, so
 * there is nothing for a thread to register with. These exist so that
 * QEMU code which registers its threads (tests/unit/iothread.c) compiles;
 * synchronize_rcu, call_rcu and rcu_read_lock are not provided.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_RCU_H
#define QEMUCORO_QEMU_RCU_H

static inline void rcu_register_thread(void)
{
}

static inline void rcu_unregister_thread(void)
{
}

#endif
