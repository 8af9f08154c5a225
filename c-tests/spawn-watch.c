/*
 * Linked into build/c-tests/spawn-watch only: fork(), vfork(),
 * posix_spawn(), posix_spawnp(), system(), popen() and pthread_create()
 * that tell the harness before doing the real thing, so that
 * `spawn-watch --list-spawners` names every test that starts another
 * process or thread. make check-aarch64 leaves exactly those out (both
 * hang under qemu-aarch64 on these machines), so no list is kept by hand.
 * The library's own threads (iothreads) come through pthread_create too:
 * the archive is linked into this program, so its calls bind here. A test
 * that starts no thread but wakes one an earlier test left idle (a thread
 * pool's worker) is named too: the harness sees that thread's context
 * switches change.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "harness.h"

#include <dlfcn.h>
#include <pthread.h>
#include <spawn.h>
#include <unistd.h>

typedef pid_t ForkFn(void);
typedef int SpawnFn(pid_t *, const char *, const posix_spawn_file_actions_t *,
                    const posix_spawnattr_t *, char *const[], char *const[]);
typedef int CreateFn(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

/* The C library's definition, which this program's own hides. */
static void *real(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (!fn) {
        fprintf(stderr, "spawn-watch: no %s in the C library\n", name);
        abort();
    }
    return fn;
}

pid_t fork(void)
{
    harness_note_spawn("forks");
    return ((ForkFn *)real("fork"))();
}

/*
 * A vfork() child borrows its parent's frame, which a wrapper's return
 * would pull from under it: fork() does what a correct vfork() user needs.
 */
pid_t vfork(void)
{
    harness_note_spawn("forks");
    return ((ForkFn *)real("fork"))();
}

/* glibc's system() and popen() spawn through an internal call, not ours. */
int system(const char *command)
{
    harness_note_spawn("spawns a process");
    return ((int (*)(const char *))real("system"))(command);
}

FILE *popen(const char *command, const char *type)
{
    harness_note_spawn("spawns a process");
    return ((FILE *(*)(const char *, const char *))real("popen"))(command, type);
}

int posix_spawn(pid_t *pid, const char *path,
                const posix_spawn_file_actions_t *actions,
                const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    harness_note_spawn("spawns a process");
    return ((SpawnFn *)real("posix_spawn"))(pid, path, actions, attr, argv, envp);
}

int posix_spawnp(pid_t *pid, const char *file,
                 const posix_spawn_file_actions_t *actions,
                 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    harness_note_spawn("spawns a process");
    return ((SpawnFn *)real("posix_spawnp"))(pid, file, actions, attr, argv, envp);
}

int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                   void *(*start)(void *), void *arg)
{
    harness_note_spawn("creates a thread");
    return ((CreateFn *)real("pthread_create"))(thread, attr, start, arg);
}
