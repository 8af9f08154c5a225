/*
 * The fd table of the event loop: which handler a poll calls when the
 * table changes under it (a handler replaced or its fd closed inside a
 * callback, a number reused by another thread), and fds that epoll cannot
 * watch (regular files), which every poll calls as poll() reports them
 * always ready. Each test also runs against QEMU (make check-vs-qemu).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "block/aio.h"
#include "qemu/main-loop.h"
#include "iothread.h"
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A fixed number for an fd whose number is reused, above what the loop
 * itself takes (a new fd gets the lowest free number). */
#define REUSED_FD 201

typedef struct {
    int fd;
    int calls[6];       /* A_read, A_write, B_read, B_write, C_read, C_write */
    int replacement;    /* the fd A_read installs C on (listening socket) */
} Swap;

enum { A_READ, A_WRITE, B_READ, B_WRITE, C_READ, C_WRITE };

static void b_read(void *opaque) { ((Swap *)opaque)->calls[B_READ]++; }
static void b_write(void *opaque) { ((Swap *)opaque)->calls[B_WRITE]++; }
static void c_read(void *opaque) { ((Swap *)opaque)->calls[C_READ]++; }
static void c_write(void *opaque) { ((Swap *)opaque)->calls[C_WRITE]++; }
static void a_write(void *opaque) { ((Swap *)opaque)->calls[A_WRITE]++; }

static void a_read_installs_b(void *opaque)
{
    Swap *s = opaque;

    s->calls[A_READ]++;
    aio_set_fd_handler(qemu_get_aio_context(), s->fd, b_read, b_write, NULL, NULL, s);
}

static void a_read_closes_for_c(void *opaque)
{
    Swap *s = opaque;

    s->calls[A_READ]++;
    aio_set_fd_handler(qemu_get_aio_context(), s->fd, NULL, NULL, NULL, NULL, NULL);
    close(s->fd);
    CHECK(dup2(s->replacement, s->fd) == s->fd);
    aio_set_fd_handler(qemu_get_aio_context(), s->fd, c_read, c_write, NULL, NULL, s);
}

/* A socket end that is readable (a byte waits) and writable. */
static int readable_and_writable(int *peer)
{
    int sv[2];

    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    CHECK(write(sv[1], "x", 1) == 1);
    *peer = sv[1];
    return sv[0];
}

/*
 * Check that handlers installed by a read handler for its own fd are not
 * called in the same poll: the fd is readable and writable, A_read
 * replaces (A_read, A_write) with (B_read, B_write), and neither B runs
 * until the next poll.
 */
TEST(fd_replaced_in_read, "/aio/fd-table/replaced-in-read")
{
    AioContext *ctx = qemu_get_aio_context();
    Swap s = { .fd = -1 };
    int peer;

    s.fd = readable_and_writable(&peer);
    aio_set_fd_handler(ctx, s.fd, a_read_installs_b, a_write, NULL, NULL, &s);
    CHECK(aio_poll(ctx, false));
    CHECK(s.calls[A_READ] == 1);
    CHECK(s.calls[A_WRITE] == 0 && s.calls[B_READ] == 0 && s.calls[B_WRITE] == 0);
    CHECK(aio_poll(ctx, false));
    CHECK(s.calls[B_READ] == 1 && s.calls[B_WRITE] == 1);
    aio_set_fd_handler(ctx, s.fd, NULL, NULL, NULL, NULL, NULL);
    close(s.fd);
    close(peer);
}

/*
 * Check that when a read handler closes its fd and another file takes the
 * number (a listening socket: never writable, nothing to accept), the new
 * file's handlers are not called for the old file's events: not C_write
 * for the old fd's writability, in that poll or later.
 */
TEST(fd_closed_in_read_number_reused, "/aio/fd-table/closed-in-read-number-reused")
{
    AioContext *ctx = qemu_get_aio_context();
    Swap s = { .fd = -1 };
    int peer, listener, sock;

    sock = readable_and_writable(&peer);
    CHECK(dup2(sock, REUSED_FD) == REUSED_FD);
    close(sock);
    s.fd = REUSED_FD;
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    /* A bare family autobinds to an abstract address. */
    CHECK(bind(listener, &(struct sockaddr) { .sa_family = AF_UNIX },
               sizeof(sa_family_t)) == 0);
    CHECK(listen(listener, 1) == 0);
    s.replacement = listener;
    aio_set_fd_handler(ctx, s.fd, a_read_closes_for_c, a_write, NULL, NULL, &s);
    CHECK(aio_poll(ctx, false));
    CHECK(s.calls[A_READ] == 1 && s.calls[A_WRITE] == 0);
    CHECK(!aio_poll(ctx, false));
    CHECK(s.calls[C_READ] == 0 && s.calls[C_WRITE] == 0);
    aio_set_fd_handler(ctx, s.fd, NULL, NULL, NULL, NULL, NULL);
    close(s.fd);
    close(listener);
    close(peer);
}

#define MANY_FILES 70

static void count_cb(void *opaque)
{
    (*(int *)opaque)++;
}

/*
 * Check that every fd epoll refuses (a regular file) is called on every
 * poll, however many there are: 70 of them, 20 polls, 20 calls each.
 */
TEST(fd_many_unwatchable_all_called, "/aio/fd-table/many-unwatchable-all-called")
{
    AioContext *ctx = qemu_get_aio_context();
    int fds[MANY_FILES], calls[MANY_FILES] = { 0 };
    int i, starved = 0;

    for (i = 0; i < MANY_FILES; i++) {
        fds[i] = open("/dev/null", O_RDONLY);
        CHECK(fds[i] >= 0);
        aio_set_fd_handler(ctx, fds[i], count_cb, NULL, NULL, NULL, &calls[i]);
    }
    for (i = 0; i < 20; i++) {
        CHECK(aio_poll(ctx, false));
    }
    for (i = 0; i < MANY_FILES; i++) {
        starved += calls[i] != 20;
        aio_set_fd_handler(ctx, fds[i], NULL, NULL, NULL, NULL, NULL);
        close(fds[i]);
    }
    if (starved) {
        fprintf(stderr, "many-unwatchable-all-called: %d of %d files not "
                "called on every poll\n", starved, MANY_FILES);
    }
    CHECK(starved == 0);
}

#define READY_PIPES 64

/*
 * Check that a regular file is called on every poll even when as many
 * pipes are ready as one epoll wait reports (64), and so are the pipes.
 */
TEST(fd_unwatchable_beside_full_wait, "/aio/fd-table/unwatchable-beside-full-wait")
{
    AioContext *ctx = qemu_get_aio_context();
    int pipes[READY_PIPES][2], calls[READY_PIPES] = { 0 };
    int file = open("/dev/null", O_RDONLY), file_calls = 0;
    int i, pipe_misses = 0;

    for (i = 0; i < READY_PIPES; i++) {
        CHECK(pipe2(pipes[i], O_NONBLOCK) == 0);
        CHECK(write(pipes[i][1], "x", 1) == 1);     /* readable until read */
        aio_set_fd_handler(ctx, pipes[i][0], count_cb, NULL, NULL, NULL, &calls[i]);
    }
    aio_set_fd_handler(ctx, file, count_cb, NULL, NULL, NULL, &file_calls);
    for (i = 0; i < 5; i++) {
        CHECK(aio_poll(ctx, false));
    }
    if (file_calls != 5) {
        fprintf(stderr, "unwatchable-beside-full-wait: file called %d times "
                "in 5 polls\n", file_calls);
    }
    CHECK(file_calls == 5);
    aio_set_fd_handler(ctx, file, NULL, NULL, NULL, NULL, NULL);
    close(file);
    for (i = 0; i < READY_PIPES; i++) {
        pipe_misses += calls[i] != 5;
        aio_set_fd_handler(ctx, pipes[i][0], NULL, NULL, NULL, NULL, NULL);
        close(pipes[i][0]);
        close(pipes[i][1]);
    }
    CHECK(pipe_misses == 0);
}

static void set_flag(void *opaque)
{
    *(bool *)opaque = true;
}

static void file_number_reused_by_socket(void *opaque)
{
    AioContext *ctx = qemu_get_aio_context();
    int file = open("/dev/null", O_RDONLY), sv[2];
    int calls = 0, polls = 0;
    bool expired = false;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, set_flag, &expired);

    (void)opaque;
    CHECK(dup2(file, REUSED_FD) == REUSED_FD);
    close(file);
    aio_set_fd_handler(ctx, REUSED_FD, count_cb, NULL, NULL, NULL, &calls);
    close(REUSED_FD);                   /* closed while registered */
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    CHECK(dup2(sv[0], REUSED_FD) == REUSED_FD);     /* nothing to read */
    aio_set_fd_handler(ctx, REUSED_FD, count_cb, NULL, NULL, NULL, &calls);
    timer_mod(t, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + 100);
    while (!expired) {
        aio_poll(ctx, true);
        polls++;
    }
    aio_set_fd_handler(ctx, REUSED_FD, NULL, NULL, NULL, NULL, NULL);
    timer_free(t);
    close(REUSED_FD);
    close(sv[0]);
    close(sv[1]);
    if (calls || polls > 3) {
        fprintf(stderr, "file-number-reused-by-socket: %d calls in %d polls\n",
                calls, polls);
    }
    CHECK(calls == 0);
    CHECK(polls <= 3);
}

/*
 * Check that a socket that takes the number of a regular file closed while
 * registered is watched as a socket: with nothing to read, its handler is
 * never called, and a blocking aio_poll sleeps until its 100 ms timer
 * instead of spinning.
 */
TEST(fd_file_number_reused_by_socket, "/aio/fd-table/file-number-reused-by-socket")
{
    CHECK(child_passes(file_number_reused_by_socket, NULL));
}

/*
 * The race of a closed fd's handler with a new fd of the same number:
 * threads register a pipe each on one iothread, write a byte and wait for
 * their handler, then close the pipe, every other time without removing
 * the handler first. Each round's handler has its own opaque, which names
 * the round's fd and stays valid to the end (a stale handler may use it).
 */
#define RACE_THREADS 4
#define RACE_ROUNDS 1500
#define RACE_WAIT_NS (1000LL * 1000 * 1000)

typedef struct {
    int fd;                     /* read end of this round's pipe */
    atomic_bool fired;          /* a handler read a byte from fd */
} Round;

typedef struct {
    AioContext *ctx;
    Round rounds[RACE_ROUNDS];
    int eaten;                  /* bytes read by another round's handler */
    int stuck;                  /* bytes no handler read in RACE_WAIT_NS */
} Racer;

static void round_read(void *opaque)
{
    Round *r = opaque;
    char c;

    if (read(r->fd, &c, 1) == 1) {
        atomic_store(&r->fired, true);
    }
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *race_rounds(void *opaque)
{
    Racer *racer = opaque;
    int i, p[2];

    for (i = 0; i < RACE_ROUNDS; i++) {
        Round *r = &racer->rounds[i];
        int64_t deadline = now_ns() + RACE_WAIT_NS;

        CHECK(pipe2(p, O_NONBLOCK) == 0);
        r->fd = p[0];
        aio_set_fd_handler(racer->ctx, p[0], round_read, NULL, NULL, NULL, r);
        CHECK(write(p[1], "x", 1) == 1);
        while (!atomic_load(&r->fired)) {
            if (now_ns() > deadline) {
                char c;
                if (read(p[0], &c, 1) == 1) {
                    racer->stuck++;
                } else if (!atomic_load(&r->fired)) {
                    racer->eaten++;
                }
                break;
            }
            sched_yield();
        }
        if (i % 2) {
            aio_set_fd_handler(racer->ctx, p[0], NULL, NULL, NULL, NULL, NULL);
        }
        close(p[0]);
        close(p[1]);
    }
    return NULL;
}

/*
 * Check that no event of a new fd is lost to the stale handler of a closed
 * fd that had the same number: 4 threads x 1500 rounds on one iothread,
 * every byte read by its own round's handler.
 */
TEST(fd_race_stale_handler, "/aio/fd-table/race-stale-handler")
{
    IOThread *iothread = iothread_new();
    AioContext *ctx = iothread_get_aio_context(iothread);
    static Racer racers[RACE_THREADS];
    pthread_t threads[RACE_THREADS];
    int i, fd, eaten = 0, stuck = 0;

    memset(racers, 0, sizeof(racers));
    for (i = 0; i < RACE_THREADS; i++) {
        racers[i].ctx = ctx;
        pthread_create(&threads[i], NULL, race_rounds, &racers[i]);
    }
    for (i = 0; i < RACE_THREADS; i++) {
        pthread_join(threads[i], NULL);
        eaten += racers[i].eaten;
        stuck += racers[i].stuck;
    }
    /* Handlers left behind on closed numbers go before the join. */
    for (fd = 3; fd < 256; fd++) {
        if (fcntl(fd, F_GETFD) < 0) {
            aio_set_fd_handler(ctx, fd, NULL, NULL, NULL, NULL, NULL);
        }
    }
    iothread_join(iothread);
    if (eaten || stuck) {
        fprintf(stderr, "race-stale-handler: of %d events, %d eaten by a "
                "stale handler, %d never handled\n",
                RACE_THREADS * RACE_ROUNDS, eaten, stuck);
    }
    CHECK(eaten == 0);
    CHECK(stuck == 0);
}

/*
 * The number of a readable fd handed to a new file while the loop polls:
 * the old file stays open (a dup keeps it) and readable, so every wait
 * reports it under the number; another thread moves the number to a file
 * that is never readable and registers a handler for it. An event the
 * loop collected for the old registration must not reach the new one.
 */
#define SWAP_ROUNDS 2000

typedef struct {
    atomic_int old_calls;       /* the old file's handler ran */
    atomic_int new_calls;       /* the new file's handler ran: spurious */
} NumberSwap;

static void old_file_read(void *opaque)
{
    atomic_fetch_add(&((NumberSwap *)opaque)->old_calls, 1);
}

static void new_file_read(void *opaque)
{
    atomic_fetch_add(&((NumberSwap *)opaque)->new_calls, 1);
}

/*
 * Check that the handler registered for a new file under a reused number
 * is never called for an event the loop collected for the old file (the
 * new file is never readable): 2000 swaps while the iothread spins on the
 * old file's readiness.
 */
TEST(fd_swapped_number_no_stale_event, "/aio/fd-table/swapped-number-no-stale-event")
{
    IOThread *iothread = iothread_new();
    AioContext *ctx = iothread_get_aio_context(iothread);
    NumberSwap s = { 0, 0 };
    int i;

    for (i = 0; i < SWAP_ROUNDS; i++) {
        int f[2], g[2], keep;
        int old_calls = atomic_load(&s.old_calls);

        CHECK(pipe2(f, O_NONBLOCK) == 0);
        CHECK(pipe2(g, O_NONBLOCK) == 0);
        CHECK(write(f[1], "x", 1) == 1);        /* never read: always ready */
        keep = dup(f[0]);
        aio_set_fd_handler(ctx, f[0], old_file_read, NULL, NULL, NULL, &s);
        while (atomic_load(&s.old_calls) < old_calls + 2) {
            sched_yield();                      /* the loop spins on it */
        }
        CHECK(dup2(g[0], f[0]) == f[0]);        /* the number is g's now */
        aio_set_fd_handler(ctx, f[0], new_file_read, NULL, NULL, NULL, &s);
        usleep(50);                             /* the poll in flight ends */
        aio_set_fd_handler(ctx, f[0], NULL, NULL, NULL, NULL, NULL);
        close(f[0]);
        close(f[1]);
        close(keep);
        close(g[0]);
        close(g[1]);
    }
    iothread_join(iothread);
    if (atomic_load(&s.new_calls)) {
        fprintf(stderr, "swapped-number-no-stale-event: %d spurious calls\n",
                atomic_load(&s.new_calls));
    }
    CHECK(atomic_load(&s.new_calls) == 0);
}
