/*
 * The say_hello conversation of "Coroutines in QEMU: The basics": ask for a
 * name, wait for a line, greet. The coroutine reads a non-blocking pipe and
 * yields whenever no data is there; a poll() loop re-enters it when the pipe
 * becomes readable. No event loop from the library is needed.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "qemu/coroutine.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int in;               /* we read the name here (non-blocking) */
    int out;              /* we write the conversation here */
    bool done;
    int yields;
} Hello;

static void write_all(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len) {
        ssize_t n = write(fd, s, len);
        CHECK(n > 0);
        if (n <= 0) {
            return;
        }
        s += n;
        len -= n;
    }
}

/* Reads one line, yielding while the pipe is empty. */
static void coroutine_fn co_read_line(Hello *h, char *buf, size_t size)
{
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t n = read(h->in, buf + len, 1);
        if (n < 0 && errno == EAGAIN) {
            h->yields++;
            qemu_coroutine_yield();
            continue;
        }
        if (n <= 0 || buf[len] == '\n') {
            break;
        }
        len++;
    }
    buf[len] = '\0';
}

static void coroutine_fn say_hello(void *opaque)
{
    Hello *h = opaque;
    char name[64], greeting[80];

    write_all(h->out, "Hi, what's your name? ");
    co_read_line(h, name, sizeof(name));
    snprintf(greeting, sizeof(greeting), "Hello, %s\n", name);
    write_all(h->out, greeting);
    h->done = true;
}

/* Check the seed's conversation, the name arriving in two pieces. */
TEST(say_hello_conversation, "/seed/say-hello")
{
    int to_co[2], from_co[2];
    char transcript[128] = "";
    const char *pieces[] = { "Ste", "fan\n" };
    Hello h = { 0 };

    CHECK(pipe2(to_co, O_NONBLOCK) == 0);
    CHECK(pipe(from_co) == 0);
    h.in = to_co[0];
    h.out = from_co[1];

    Coroutine *co = qemu_coroutine_create(say_hello, &h);
    qemu_coroutine_enter(co);            /* asks, then waits for the name */
    for (int i = 0; i < 2; i++) {
        struct pollfd pfd = { .fd = h.in, .events = POLLIN };
        CHECK(!h.done);
        write_all(to_co[1], pieces[i]);
        CHECK(poll(&pfd, 1, 1000) == 1);
        qemu_coroutine_enter(co);
    }
    CHECK(h.done);
    CHECK(h.yields == 2);
    CHECK(read(from_co[0], transcript, sizeof(transcript) - 1) > 0);
    CHECK(strcmp(transcript, "Hi, what's your name? Hello, Stefan\n") == 0);
    close(to_co[0]);
    close(to_co[1]);
    close(from_co[0]);
    close(from_co[1]);
}
