/*
 * The scripted clients of the say_hello demos. Each reads the question,
 * waits until every client has been asked (so the server is holding all
 * the conversations open at once), answers its name in two pieces and
 * reads the greeting. The transcripts are printed in client order.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "peer.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    int id;
    int fd;
    pthread_t thread;
    char transcript[512];
} Peer;

static const char *const names[CLIENTS] = { "Stefan", "Kevin", "Paolo" };
static Peer peers[CLIENTS];
static pthread_barrier_t all_asked;

/* Reads up to and including `end`; returns the text without it. */
static void read_until(Peer *p, const char *end, char *buf, size_t size)
{
    size_t len = 0;

    while (len + 1 < size && read(p->fd, &buf[len], 1) == 1) {
        len++;
        buf[len] = '\0';
        if (len >= strlen(end) && strcmp(buf + len - strlen(end), end) == 0) {
            len -= strlen(end);
            break;
        }
    }
    buf[len] = '\0';
}

static void note(Peer *p, const char *who, const char *text)
{
    size_t used = strlen(p->transcript);

    snprintf(p->transcript + used, sizeof(p->transcript) - used,
             "  client %d %s %s\n", p->id, who, text);
}

static void say(Peer *p, const char *text)
{
    if (write(p->fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        perror("peer write");
        exit(1);
    }
}

static void *peer_run(void *opaque)
{
    Peer *p = opaque;
    const char *name = names[p->id - 1];
    size_t half = strlen(name) / 2;
    char buf[128];

    read_until(p, "? ", buf, sizeof(buf));
    strcat(buf, "?");
    note(p, "<-", buf);
    pthread_barrier_wait(&all_asked);

    /* The name in two pieces: the server must wait for the rest. */
    snprintf(buf, sizeof(buf), "%.*s", (int)half, name);
    say(p, buf);
    usleep(10 * 1000);
    snprintf(buf, sizeof(buf), "%s\n", name + half);
    say(p, buf);
    note(p, "->", name);

    read_until(p, "\n", buf, sizeof(buf));
    note(p, "<-", buf);
    close(p->fd);
    return NULL;
}

void peers_start(int server_fds[CLIENTS])
{
    pthread_barrier_init(&all_asked, NULL, CLIENTS);
    for (int i = 0; i < CLIENTS; i++) {
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
            perror("socketpair");
            exit(1);
        }
        server_fds[i] = sv[0];
        peers[i].id = i + 1;
        peers[i].fd = sv[1];
        peers[i].transcript[0] = '\0';
        /* The server's end never blocks: that is the event loop's job. */
        if (fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK) < 0) {
            perror("fcntl");
            exit(1);
        }
        pthread_create(&peers[i].thread, NULL, peer_run, &peers[i]);
    }
}

void peers_finish(void)
{
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(peers[i].thread, NULL);
        fputs(peers[i].transcript, stdout);
    }
    pthread_barrier_destroy(&all_asked);
}
