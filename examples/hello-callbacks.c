/*
 * The say_hello conversation of "Coroutines in QEMU: The basics" (Stefan
 * Hajnoczi, 2014), written with callbacks: the same three steps as a state
 * machine driven by fd handlers. Each handler does what it can without
 * blocking, records where it got to, and returns to the event loop. Compare
 * with hello-coroutine.c, where the same steps read top to bottom.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"
#include "peer.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef enum {
    ASKING,             /* sending the question */
    READING_NAME,       /* collecting the answer up to a newline */
    GREETING,           /* sending the greeting */
    DONE,
} State;

typedef struct {
    int fd;
    State state;
    char name[64];
    size_t name_len;
    char out[96];       /* what we are sending ... */
    size_t out_len;
    size_t out_pos;     /* ... and how much of it went */
} Conversation;

static void conversation_writable(void *opaque);
static void conversation_readable(void *opaque);

static void start_sending(Conversation *c, State state, const char *text)
{
    c->state = state;
    snprintf(c->out, sizeof(c->out), "%s", text);
    c->out_len = strlen(c->out);
    c->out_pos = 0;
    aio_set_fd_handler(qemu_get_aio_context(), c->fd,
                       NULL, conversation_writable, NULL, NULL, c);
}

static void conversation_writable(void *opaque)
{
    Conversation *c = opaque;
    ssize_t n = write(c->fd, c->out + c->out_pos, c->out_len - c->out_pos);

    if (n < 0) {
        return;         /* EAGAIN: the handler runs again when writable */
    }
    c->out_pos += n;
    if (c->out_pos < c->out_len) {
        return;
    }
    if (c->state == ASKING) {
        c->state = READING_NAME;
        aio_set_fd_handler(qemu_get_aio_context(), c->fd,
                           conversation_readable, NULL, NULL, NULL, c);
    } else {
        c->state = DONE;
        aio_set_fd_handler(qemu_get_aio_context(), c->fd,
                           NULL, NULL, NULL, NULL, NULL);
        close(c->fd);
    }
}

static void conversation_readable(void *opaque)
{
    Conversation *c = opaque;
    char greeting[96];
    char ch;
    ssize_t n;

    while ((n = read(c->fd, &ch, 1)) == 1) {
        if (ch == '\n' || c->name_len + 1 == sizeof(c->name)) {
            c->name[c->name_len] = '\0';
            snprintf(greeting, sizeof(greeting), "Hello, %s\n", c->name);
            start_sending(c, GREETING, greeting);
            return;
        }
        c->name[c->name_len++] = ch;
    }
    if (n == 0) {           /* the client left without a name */
        c->state = DONE;
        aio_set_fd_handler(qemu_get_aio_context(), c->fd,
                           NULL, NULL, NULL, NULL, NULL);
        close(c->fd);
    }
    /* Otherwise no more data yet: keep the state, wait for the next call. */
}

static bool all_done(Conversation *conv)
{
    for (int i = 0; i < CLIENTS; i++) {
        if (conv[i].state != DONE) {
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
        start_sending(&conv[i], ASKING, "Hi, what's your name? ");
    }
    while (!all_done(conv)) {
        aio_poll(qemu_get_aio_context(), true);
    }
    printf("callback version: %d conversations, one state machine each\n",
           CLIENTS);
    peers_finish();
    return 0;
}
