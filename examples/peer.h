/*
 * The scripted side of the say_hello demos: one thread per client, each
 * talking to the server over its own socketpair with blocking I/O.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_EXAMPLE_PEER_H
#define QEMUCORO_EXAMPLE_PEER_H

#define CLIENTS 3

/*
 * Starts CLIENTS scripted clients and stores the server's end of each
 * conversation (non-blocking) in server_fds[].
 */
void peers_start(int server_fds[CLIENTS]);

/* Waits for every client to finish and prints each transcript. */
void peers_finish(void);

#endif
