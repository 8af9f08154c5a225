/*
 * Coroutine I/O: yield_until_fd_readable and qemu_co_send/recv over
 * non-blocking descriptors, driven by the main loop.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static AioContext *main_ctx(void)
{
    return qemu_get_aio_context();
}

static void run_until_done(bool *done)
{
    while (!*done) {
        aio_poll(main_ctx(), true);
    }
}

static void nonblocking_socketpair(int sv[2])
{
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
}

typedef struct {
    int fd;
    char byte;
    bool done;
} Waiter;

static void coroutine_fn wait_then_read(void *opaque)
{
    Waiter *w = opaque;
    yield_until_fd_readable(w->fd);
    CHECK(read(w->fd, &w->byte, 1) == 1);
    w->done = true;
}

/* Check that yield_until_fd_readable resumes the coroutine once a pipe has
 * data, and removes its handler. */
TEST(yield_until_readable_pipe, "/co-io/yield-until-fd-readable")
{
    int fds[2];
    Waiter w = { 0 };

    CHECK(pipe2(fds, O_NONBLOCK) == 0);
    w.fd = fds[0];
    qemu_coroutine_enter(qemu_coroutine_create(wait_then_read, &w));
    CHECK(!aio_poll(main_ctx(), false));
    CHECK(!w.done);
    CHECK(write(fds[1], "z", 1) == 1);
    run_until_done(&w.done);
    CHECK(w.byte == 'z');
    CHECK(write(fds[1], "z", 1) == 1);
    CHECK(!aio_poll(main_ctx(), false));      /* the handler is gone */
    close(fds[0]);
    close(fds[1]);
}

#define MIB (1024 * 1024)

typedef struct {
    int fd;
    Coroutine *co;
    unsigned char *buf;
    ssize_t ret;
    bool done;
} Peer;

static void enter_peer(void *opaque)
{
    Peer *p = opaque;
    qemu_coroutine_enter(p->co);
}

static void coroutine_fn send_mib(void *opaque)
{
    Peer *p = opaque;
    p->ret = qemu_co_send(p->fd, p->buf, MIB);
    aio_set_fd_handler(main_ctx(), p->fd, NULL, NULL, NULL, NULL, NULL);
    p->done = true;
}

static void coroutine_fn recv_mib(void *opaque)
{
    Peer *p = opaque;
    p->ret = qemu_co_recv(p->fd, p->buf, MIB);
    aio_set_fd_handler(main_ctx(), p->fd, NULL, NULL, NULL, NULL, NULL);
    p->done = true;
}

/* Check that 1 MiB goes intact through qemu_co_send/qemu_co_recv between
 * two coroutines, each re-entered by its own fd handler. */
TEST(send_recv_mib, "/co-io/send-recv-1mib")
{
    int sv[2];
    Peer tx = { 0 }, rx = { 0 };

    nonblocking_socketpair(sv);
    tx.fd = sv[0];
    rx.fd = sv[1];
    tx.buf = malloc(MIB);
    rx.buf = calloc(1, MIB);
    for (int i = 0; i < MIB; i++) {
        tx.buf[i] = i * 7 + (i >> 12);
    }
    tx.co = qemu_coroutine_create(send_mib, &tx);
    rx.co = qemu_coroutine_create(recv_mib, &rx);
    aio_set_fd_handler(main_ctx(), tx.fd, NULL, enter_peer, NULL, NULL, &tx);
    aio_set_fd_handler(main_ctx(), rx.fd, enter_peer, NULL, NULL, NULL, &rx);
    run_until_done(&tx.done);
    run_until_done(&rx.done);
    CHECK(tx.ret == MIB);
    CHECK(rx.ret == MIB);
    CHECK(memcmp(tx.buf, rx.buf, MIB) == 0);
    free(tx.buf);
    free(rx.buf);
    close(sv[0]);
    close(sv[1]);
}

/* Check that recv on EAGAIN just yields: no fd handler gets installed. */
TEST(recv_installs_no_handler, "/co-io/recv-installs-no-handler")
{
    int sv[2];
    unsigned char *buf = calloc(1, MIB);   /* recv_mib asks for 1 MiB */
    Peer rx = { .buf = buf };

    nonblocking_socketpair(sv);
    rx.fd = sv[1];
    rx.co = qemu_coroutine_create(recv_mib, &rx);
    qemu_coroutine_enter(rx.co);
    CHECK(write(sv[0], "abc", 3) == 3);
    CHECK(!aio_poll(main_ctx(), false));
    CHECK(!rx.done);
    close(sv[0]);                              /* EOF ends the receive */
    qemu_coroutine_enter(rx.co);
    CHECK(rx.done);
    CHECK(rx.ret == 3);
    CHECK(memcmp(buf, "abc", 3) == 0);
    free(buf);
    close(sv[1]);
}

typedef struct {
    int fd;
    struct iovec iov[2];
    ssize_t ret;
} Vec;

static void coroutine_fn recvv_with_offset(void *opaque)
{
    Vec *v = opaque;
    v->ret = qemu_co_recvv(v->fd, v->iov, 2, 2, 3);
}

/* Check that qemu_co_recvv fills the iovec from the given offset. */
TEST(recvv_offset, "/co-io/recvv-offset")
{
    int sv[2];
    char a[3] = "..", b[4] = "...";
    Vec v = { .iov = { { a, 2 }, { b, 3 } } };

    nonblocking_socketpair(sv);
    v.fd = sv[1];
    CHECK(write(sv[0], "wxyz", 4) == 4);
    qemu_coroutine_enter(qemu_coroutine_create(recvv_with_offset, &v));
    CHECK(v.ret == 3);                  /* the 3 bytes after offset 2 */
    CHECK(strcmp(a, "..") == 0 && strcmp(b, "wxy") == 0);
    close(sv[0]);
    close(sv[1]);
}

static void coroutine_fn recv_from_bad_fd(void *opaque)
{
    Peer *p = opaque;
    char c;
    p->ret = qemu_co_recv(p->fd, &c, 1);
}

/* Check that an error before any byte moved returns -errno. */
TEST(recv_error_returns_errno, "/co-io/error-returns-errno")
{
    Peer p = { .fd = -1 };

    qemu_coroutine_enter(qemu_coroutine_create(recv_from_bad_fd, &p));
    CHECK(p.ret == -EBADF);
}

/* Check that an error after some data returns the count so far. */
TEST_OURS(send_error_after_data_returns_count, "/co-io/error-after-data-returns-count",
          "QEMU sends without MSG_NOSIGNAL: SIGPIPE kills it")
{
    int sv[2];
    char sink[100];
    Peer tx = { 0 };

    nonblocking_socketpair(sv);
    tx.fd = sv[0];
    tx.buf = calloc(1, MIB);
    tx.co = qemu_coroutine_create(send_mib, &tx);
    qemu_coroutine_enter(tx.co);               /* fills the socket, yields */
    CHECK(!tx.done);
    CHECK(read(sv[1], sink, sizeof(sink)) == sizeof(sink));
    close(sv[1]);
    qemu_coroutine_enter(tx.co);               /* EPIPE now */
    CHECK(tx.done);
    CHECK(tx.ret > 0 && tx.ret < MIB);
    free(tx.buf);
    close(sv[0]);
}

static void wait_outside_coroutine(void *opaque)
{
    (void)opaque;
    yield_until_fd_readable(0);
}

/* Check that yield_until_fd_readable outside a coroutine aborts. */
TEST(yield_until_readable_outside_aborts, "/co-io/yield-until-fd-readable-outside-aborts")
{
    CHECK(child_aborts_with(wait_outside_coroutine, NULL,
          ABORT_MSG("yield_until_fd_readable: not in a coroutine",
                    "*yield_until_fd_readable: Assertion `qemu_in_coroutine()' failed.")));
}
