/*
 * The say_hello conversation of "Coroutines in QEMU: The basics" (Stefan
 * Hajnoczi, 2014), written as a coroutine: ask for a name, read a line,
 * greet. The code reads top to bottom like blocking code; whenever the
 * socket has nothing for it, the coroutine yields to the event loop and
 * its fd handler re-enters it when data arrives. One coroutine per client
 * serves several conversations at once on one thread.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"
#include "peer.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int fd;
    Coroutine *co;
    bool done;
} Conversation;

static int waiting_for_names;
static int most_waiting_at_once;

/* fd handler: the socket is ready, let the conversation go on. */
static void conversation_ready(void *opaque)
{
    Conversation *c = opaque;
    qemu_coroutine_enter(c->co);
}

static void coroutine_fn send_str(Conversation *c, const char *s)
{
    aio_set_fd_handler(qemu_get_aio_context(), c->fd,
                       NULL, conversation_ready, NULL, NULL, c);
    qemu_co_send(c->fd, (void *)s, strlen(s));
    aio_set_fd_handler(qemu_get_aio_context(), c->fd,
                       NULL, NULL, NULL, NULL, NULL);
}

static void coroutine_fn read_line(Conversation *c, char *buf, size_t size)
{
    size_t len = 0;

    aio_set_fd_handler(qemu_get_aio_context(), c->fd,
                       conversation_ready, NULL, NULL, NULL, c);
    while (len + 1 < size && qemu_co_recv(c->fd, &buf[len], 1) == 1 &&
           buf[len] != '\n') {
        len++;
    }
    buf[len] = '\0';
    aio_set_fd_handler(qemu_get_aio_context(), c->fd,
                       NULL, NULL, NULL, NULL, NULL);
}

static void coroutine_fn say_hello(void *opaque)
{
    Conversation *c = opaque;
    char name[64], greeting[96];

    send_str(c, "Hi, what's your name? ");

    waiting_for_names++;
    if (waiting_for_names > most_waiting_at_once) {
        most_waiting_at_once = waiting_for_names;
    }
    read_line(c, name, sizeof(name));
    waiting_for_names--;

    snprintf(greeting, sizeof(greeting), "Hello, %s\n", name);
    send_str(c, greeting);
    close(c->fd);
    c->done = true;
}

static bool all_done(Conversation *conv)
{
    for (int i = 0; i < CLIENTS; i++) {
        if (!conv[i].done) {
            return false;
        }
    }
    return true;
}

int main(void)
{
    Conversation conv[CLIENTS] = { 0 };
    int fds[CLIENTS];

    peers_start(fds);
    for (int i = 0; i < CLIENTS; i++) {
        conv[i].fd = fds[i];
        conv[i].co = qemu_coroutine_create(say_hello, &conv[i]);
        qemu_coroutine_enter(conv[i].co);
    }
    while (!all_done(conv)) {
        aio_poll(qemu_get_aio_context(), true);
    }
    printf("coroutine version: %d conversations, one coroutine each, "
           "%d waiting for a name at once\n", CLIENTS, most_waiting_at_once);
    peers_finish();
    return 0;
}
