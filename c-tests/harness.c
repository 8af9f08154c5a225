/*
 * The test runner behind harness.h.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "harness.h"

#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TESTS 512
/* A forked child that hangs is killed by SIGALRM after this long (also
 * under Valgrind), so a hang fails its test instead of stalling the run. */
#define CHILD_TIMEOUT_S 30
/* --skip prefixes at most (make check-aarch64 passes one per test that
 * starts a process or thread). */
#define MAX_SKIPS MAX_TESTS

static struct {
    const char *name;
    TestFn *fn;
    const char *ours;       /* why QEMU cannot run it, or NULL */
} tests[MAX_TESTS];
static int n_tests;
static struct {
    const char *name;
    TestFn *fn;
} children[MAX_TESTS];
static int n_children;
static bool failed;
/* What the running test started first ("forks", "creates a thread"), or
 * NULL; written by harness_note_spawn, possibly from another thread. */
static const char *_Atomic spawned;
/* How we were started, to run ourselves again for exec'd children (not
 * /proc/self/exe, which under Valgrind is Valgrind itself). */
static const char *self_path = "/proc/self/exe";

void harness_register_ours(const char *name, TestFn *fn, const char *reason)
{
    if (n_tests == MAX_TESTS) {
        fprintf(stderr, "harness: more than %d tests\n", MAX_TESTS);
        abort();
    }
    tests[n_tests].name = name;
    tests[n_tests].fn = fn;
    tests[n_tests].ours = reason;
    n_tests++;
}

void harness_register(const char *name, TestFn *fn)
{
    harness_register_ours(name, fn, NULL);
}

/*
 * Records a failed CHECK. The test goes on (a CHECK may sit inside a
 * coroutine or another thread, whose stack cannot be abandoned) and is
 * reported failed when it returns.
 */
void harness_fail(const char *file, int line, const char *expr)
{
    fprintf(stderr, "    %s:%d: CHECK(%s) failed\n", file, line, expr);
    failed = true;
}

void harness_note_spawn(const char *what)
{
    const char *none = NULL;
    atomic_compare_exchange_strong(&spawned, &none, what);
}

void harness_register_child(const char *name, TestFn *fn)
{
    if (n_children == MAX_TESTS) {
        fprintf(stderr, "harness: more than %d children\n", MAX_TESTS);
        abort();
    }
    children[n_children].name = name;
    children[n_children].fn = fn;
    n_children++;
}

static int by_name(const void *a, const void *b)
{
    const char *const *x = a;
    const char *const *y = b;
    return strcmp(*x, *y);
}

long harness_gettid(void)
{
    return syscall(SYS_gettid);
}

/* Whether the `len` bytes at `s` match `pat`, where '*' matches any run
 * of characters (no other wildcard: messages contain '[' and '?'). */
static bool glob_matches(const char *s, size_t len, const char *pat)
{
    if (*pat == '\0') {
        return len == 0;
    }
    if (*pat == '*') {
        for (size_t skip = 0; skip <= len; skip++) {
            if (glob_matches(s + skip, len - skip, pat + 1)) {
                return true;
            }
        }
        return false;
    }
    return len > 0 && *s == *pat && glob_matches(s + 1, len - 1, pat + 1);
}

/* Whether `out` is one line, with its newline, that matches `message`. */
static bool message_matches(const char *out, size_t len, const char *message)
{
    if (len == 0 || out[len - 1] != '\n' || memchr(out, '\n', len - 1)) {
        return false;
    }
    return glob_matches(out, len - 1, message);
}

/* Runs `child` in a fork with its stderr into `out` (NUL-terminated,
 * length in *len); returns its wait status. A child that returns exits
 * with 99, which no test expects. */
static int run_captured(void (*child)(void *), void *opaque,
                        char *out, size_t size, size_t *len)
{
    int fds[2];
    ssize_t n;
    int status;
    pid_t pid;

    *len = 0;
    out[0] = '\0';
    if (pipe(fds) < 0) {
        return -1;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        alarm(CHILD_TIMEOUT_S);
        child(opaque);
        _exit(99);
    }
    close(fds[1]);
    while (*len < size - 1 &&
           (n = read(fds[0], out + *len, size - 1 - *len)) > 0) {
        *len += n;
    }
    out[*len] = '\0';
    close(fds[0]);
    waitpid(pid, &status, 0);
    return status;
}

/* Runs `child` in a fork with stderr captured; checks that it dies of
 * `sig` after writing `message` (NULL: anything). */
static bool fork_dies_with(void (*child)(void *), void *opaque, int sig,
                           const char *message)
{
    char out[4096];
    size_t len;
    int status = run_captured(child, opaque, out, sizeof(out), &len);

    if (status == -1 || !WIFSIGNALED(status) || WTERMSIG(status) != sig) {
        fprintf(stderr, "    child did not die of %s (status %#x; said \"%s\")\n",
                strsignal(sig), status, out);
        return false;
    }
    if (message && !message_matches(out, len, message)) {
        fprintf(stderr, "    child said \"%s\", expected \"%s\\n\"\n", out, message);
        return false;
    }
    return true;
}

bool child_ends_with(void (*fn)(void *), void *opaque, int end,
                     const char *output)
{
    char out[4096];
    size_t len;
    int status = run_captured(fn, opaque, out, sizeof(out), &len);

    if (status != -1 && WIFSIGNALED(status)) {
        status = KILLED(WTERMSIG(status));  /* with or without a core dump */
    }
    if (status != end || !glob_matches(out, len, output)) {
        fprintf(stderr, "    child ended with %#x (expected %#x), stderr \"%s\"\n",
                status, end, out);
        return false;
    }
    return true;
}

bool child_aborts_with(void (*fn)(void *), void *opaque, const char *message)
{
    return fork_dies_with(fn, opaque, SIGABRT, message);
}

bool child_dies_with(void (*fn)(void *), void *opaque, int sig,
                     const char *message)
{
    return fork_dies_with(fn, opaque, sig, message);
}

typedef struct {
    const char *child;
    const char *env;
} ExecChild;

static void exec_child(void *opaque)
{
    ExecChild *e = opaque;
    char *argv[] = { "run", "--child", (char *)e->child, NULL };

    if (e->env) {
        putenv((char *)e->env);
    }
    execv(self_path, argv);
    _exit(127);
}

bool child_passes(void (*fn)(void *), void *opaque)
{
    int status;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        alarm(CHILD_TIMEOUT_S);
        fn(opaque);
        fflush(NULL);
        _exit(failed ? 1 : 0);
    }
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
        fprintf(stderr, "    child hung (killed after %d s)\n", CHILD_TIMEOUT_S);
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "    child failed (status %#x)\n", status);
        return false;
    }
    return true;
}

bool exec_child_aborts_with(const char *child, const char *env,
                            const char *message)
{
    ExecChild e = { child, env };
    return fork_dies_with(exec_child, &e, SIGABRT, message);
}

bool exec_child_succeeds(const char *child, const char *env)
{
    ExecChild e = { child, env };

    /* exec_child never returns, and the alarm outlives the exec. */
    if (!child_passes(exec_child, &e)) {
        fprintf(stderr, "    (the child was %s)\n", child);
        return false;
    }
    return true;
}

static int run_child(const char *name)
{
    for (int i = 0; i < n_children; i++) {
        if (strcmp(children[i].name, name) == 0) {
            children[i].fn();
            return 0;
        }
    }
    fprintf(stderr, "harness: no child named %s\n", name);
    return 2;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* --skip PATH: the test PATH, or every test under PATH if it ends in '/'
 * (an exact name never drops a longer one that begins with it). */
static bool skipped_by(const char *name, const char *path)
{
    size_t len = strlen(path);
    return len && path[len - 1] == '/' ? starts_with(name, path) : strcmp(name, path) == 0;
}

/*
 * The context switches of every thread but this one, summed: a thread
 * that an earlier test started and left idle (a thread pool's worker)
 * adds none, one that works during a test adds some.
 */
static long other_threads_switches(void)
{
    char path[320], line[256];
    long sum = 0, n;
    struct dirent *e;
    DIR *dir = opendir("/proc/self/task");

    if (!dir) {
        return 0;
    }
    while ((e = readdir(dir))) {
        FILE *f;

        if (e->d_name[0] == '.' || atol(e->d_name) == (long)syscall(SYS_gettid)) {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
        f = fopen(path, "r");
        if (!f) {
            continue;           /* it exited meanwhile */
        }
        while (fgets(line, sizeof(line), f)) {
            if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1 ||
                sscanf(line, "nonvoluntary_ctxt_switches: %ld", &n) == 1) {
                sum += n;
            }
        }
        fclose(f);
    }
    closedir(dir);
    return sum;
}

/*
 * run [PREFIX] [--skip PATH]... [--list-spawners]: the tests whose names
 * start with PREFIX (all by default), less the skipped ones (see
 * skipped_by). --list-spawners also prints "spawns NAME: WHAT" for each test
 * that started a process or thread (spawn-watch.c tells).
 */
int main(int argc, char **argv)
{
    const char *filter = "";
    const char *skip[MAX_SKIPS];
    int n_skip = 0;
    int passed = 0, nfailed = 0, nskipped = 0;
    bool list_spawners = false;
    long switches;

#ifdef VS_QEMU
    qemu_init_main_loop(&error_abort);
#endif
    if (argc == 3 && strcmp(argv[1], "--child") == 0) {
        return run_child(argv[2]);
    }
    if (strchr(argv[0], '/')) {
        self_path = argv[0];
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--skip") == 0 && i + 1 < argc) {
            if (n_skip == MAX_SKIPS) {
                fprintf(stderr, "harness: more than %d --skip\n", MAX_SKIPS);
                return 2;
            }
            skip[n_skip++] = argv[++i];
        } else if (strcmp(argv[i], "--list-spawners") == 0) {
            list_spawners = true;
        } else {
            filter = argv[i];
        }
    }

    qsort(tests, n_tests, sizeof(tests[0]), by_name);
    for (int i = 0; i < n_tests; i++) {
        bool skipped = !starts_with(tests[i].name, filter);
        for (int j = 0; j < n_skip; j++) {
            skipped |= skipped_by(tests[i].name, skip[j]);
        }
        if (skipped) {
            continue;
        }
#ifdef VS_QEMU
        if (tests[i].ours) {
            printf("skip %s (ours: %s)\n", tests[i].name, tests[i].ours);
            nskipped++;
            continue;
        }
#endif
        failed = false;
        spawned = NULL;
        switches = list_spawners ? other_threads_switches() : 0;
        tests[i].fn();
        printf("%s %s\n", failed ? "FAIL" : "ok  ", tests[i].name);
        if (list_spawners && !spawned && other_threads_switches() != switches) {
            spawned = "a thread an earlier test started ran during it";
        }
        if (list_spawners && spawned) {
            printf("spawns %s: %s\n", tests[i].name, spawned);
        }
        fflush(stdout);
        if (failed) {
            nfailed++;
        } else {
            passed++;
        }
    }
    printf("%d passed, %d failed, %d skipped as ours\n", passed, nfailed, nskipped);
    return nfailed ? 1 : 0;
}
