/* fsync_shim.c -- an LD_PRELOAD shim that injects I/O faults into the gateway's LMDB store,
 * switched on and off at run time by the tests (tests/integration/faultkit.py).
 *
 * Environment:
 *   HOOKGATE_FAULT_CONTROL=/path/file  the control file, read on every intercepted call
 *   HOOKGATE_FAULT_LOG=/path/file      optional: one line appended per injected fault
 *
 * The control file holds whitespace- or comma-separated words; empty or absent means no
 * fault, and a line starting with '#' is a comment (faultkit.py writes a generation number
 * there, so that every change is seen as one and resets the counters below):
 *   fsync      fdatasync()/fsync() on data.mdb fail with EIO (nothing is flushed)
 *   meta       LMDB's meta-page write fails with EIO and writes nothing: pwrite()/pwrite64()
 *              on a data.mdb descriptor opened with O_DSYNC, or at an offset within the
 *              first two pages (the meta pages; with MDB_NOMETASYNC LMDB writes them
 *              through its plain descriptor)
 *   fsync:N    the same, but only the first N calls after the content last changed
 *   meta:N
 *   fsync/N    only every Nth call fails (the 1st, N+1th, ...): intermittent failures
 *   meta/N
 *   enospc     injected failures use ENOSPC instead of EIO
 *
 * LMDB writes data pages with lseek+writev (or pwrite, never in the first two pages) on
 * its main descriptor, flushes them with fdatasync, and writes the meta page with pwrite
 * on a second O_DSYNC descriptor, or on the main one under MDB_NOMETASYNC.
 * Only descriptors whose path ends in "/data.mdb" are touched, so nothing else in the
 * process is affected.
 *
 * Under ASan the runtime must come first in LD_PRELOAD: faultkit.py preloads the
 * libasan the binary links (read from ldd) before this shim. */
/* Both pwrite and pwrite64 are defined here: without this, glibc's headers redirect one
 * name to the other. */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

enum { F_FSYNC, F_META, NFAULTS };
static const char *const fault_names[NFAULTS] = {"fsync", "meta"};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    bool loaded;
    char text[256]; /* the control file's content when last parsed */
    bool on[NFAULTS];
    long budget[NFAULTS]; /* -1: unlimited, else failures left for this version of the file */
    long every[NFAULTS];  /* fail one call in this many (1: every call) */
    long calls[NFAULTS];  /* calls seen on a target since the file last changed */
    int err;
} ctl;

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);

/* Stores dlsym(RTLD_NEXT, name) into the function pointer at fp (ISO C has no cast from
 * void * to a function pointer; copying the bytes is what POSIX dlsym users do). */
static void next_sym(void *fp, const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        static const char msg[] = "fsync_shim: dlsym(RTLD_NEXT) failed\n";
        (void)!write(2, msg, sizeof(msg) - 1);
        abort();
    }
    memcpy(fp, &p, sizeof(p));
}

__attribute__((constructor)) static void shim_init(void)
{
    next_sym(&real_fsync, "fsync");
    next_sym(&real_fdatasync, "fdatasync");
    next_sym(&real_pwrite, "pwrite");
    next_sym(&real_pwrite64, "pwrite64");
}

/* Parses the control file (the caller holds the lock). Uses raw syscalls only. */
static void parse_control(const char *text)
{
    memset(ctl.on, 0, sizeof(ctl.on));
    ctl.err = EIO;
    char word[64];
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',') p++;
        if (*p == '#') { /* a comment, to the end of the line */
            while (*p && *p != '\n') p++;
            continue;
        }
        size_t n = 0;
        while (*p && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ','))
            if (n + 1 < sizeof(word))
                word[n++] = *p++;
            else
                p++;
        word[n] = '\0';
        if (n == 0) continue;
        if (strcmp(word, "enospc") == 0) {
            ctl.err = ENOSPC;
            continue;
        }
        char *colon = strchr(word, ':'), *slash = strchr(word, '/');
        long budget = -1, every = 1;
        if (colon) {
            *colon = '\0';
            budget = strtol(colon + 1, NULL, 10);
        }
        if (slash) {
            *slash = '\0';
            every = strtol(slash + 1, NULL, 10);
            if (every < 1) every = 1;
        }
        for (int f = 0; f < NFAULTS; f++)
            if (strcmp(word, fault_names[f]) == 0) {
                ctl.on[f] = true;
                ctl.budget[f] = budget;
                ctl.every[f] = every;
                ctl.calls[f] = 0;
            }
    }
}

/* Reads the control file on every call (an open and a read: microseconds, next to a
 * device flush) and re-parses it when its content changed. */
static void reload_control(void)
{
    const char *path = getenv("HOOKGATE_FAULT_CONTROL");
    char text[sizeof(ctl.text)] = "";
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        ssize_t n = read(fd, text, sizeof(text) - 1);
        text[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    if (ctl.loaded && strcmp(text, ctl.text) == 0) return;
    parse_control(text);
    memcpy(ctl.text, text, sizeof(text));
    ctl.loaded = true;
}

static bool is_store_fd(int fd)
{
    char link[64], target[4096];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0) return false;
    target[n] = '\0';
    static const char suffix[] = "/data.mdb";
    size_t sl = sizeof(suffix) - 1;
    return (size_t)n >= sl && memcmp(target + n - sl, suffix, sl) == 0;
}

static void log_fault(const char *what, int fd, int err)
{
    const char *path = getenv("HOOKGATE_FAULT_LOG");
    if (!path) return;
    int lfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (lfd < 0) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[160];
    int n = snprintf(line, sizeof(line), "%lld.%03ld pid=%d tid=%ld %s fd=%d %s\n",
                     (long long)ts.tv_sec, ts.tv_nsec / 1000000, (int)getpid(),
                     (long)syscall(SYS_gettid), what, fd, strerror(err));
    (void)!write(lfd, line, (size_t)n);
    close(lfd);
}

/* Returns the errno to inject for `fault` on fd (0: let the call through); off is the
 * offset of a pwrite (-1 for a flush). */
static int should_fail(int fault, int fd, off_t off)
{
    int saved = errno, err = 0;
    pthread_mutex_lock(&lock);
    reload_control();
    if (ctl.on[fault] && ctl.budget[fault] != 0) {
        bool target = is_store_fd(fd);
        if (target && fault == F_META) {
            int fl = fcntl(fd, F_GETFL);
            target = (fl >= 0 && (fl & O_DSYNC) == O_DSYNC) ||
                     (off >= 0 && off < 2 * (off_t)sysconf(_SC_PAGESIZE));
        }
        if (target && ctl.calls[fault]++ % ctl.every[fault] == 0) {
            if (ctl.budget[fault] > 0) ctl.budget[fault]--;
            err = ctl.err;
        }
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
    return err;
}

EXPORT int fsync(int fd)
{
    int err = should_fail(F_FSYNC, fd, -1);
    if (err) {
        log_fault("fsync", fd, err);
        errno = err;
        return -1;
    }
    return real_fsync(fd);
}

EXPORT int fdatasync(int fd)
{
    int err = should_fail(F_FSYNC, fd, -1);
    if (err) {
        log_fault("fdatasync", fd, err);
        errno = err;
        return -1;
    }
    return real_fdatasync(fd);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    int err = should_fail(F_META, fd, (off_t)off);
    if (err) {
        log_fault("pwrite(meta)", fd, err);
        errno = err;
        return -1;
    }
    return real_pwrite(fd, buf, n, off);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    int err = should_fail(F_META, fd, (off_t)off);
    if (err) {
        log_fault("pwrite64(meta)", fd, err);
        errno = err;
        return -1;
    }
    return real_pwrite64(fd, buf, n, off);
}
