/* pagecache_probe.c -- what growing the page cache costs on this machine: writes a file of
 * MIB MiB twice (1 MiB writes, fdatasync every 64 MiB), deleting it in between, and prints
 * the CPU time per 4 KiB page of each pass. The first pass takes pages the kernel has not
 * used lately; the second takes the pages the first one just freed. On bare metal the two
 * cost the same; a VM whose host backs guest memory lazily (and takes freed memory back)
 * makes the first pass several times dearer, and a store that grows pays that price too. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static double cpu_s(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

/* Writes path with mib MiB and returns the CPU time per 4 KiB page, or -1. */
static double write_pass(const char *path, long mib, const char *chunk)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return -1;
    double c0 = cpu_s();
    for (long i = 0; i < mib; i++) {
        if (pwrite(fd, chunk, CHUNK, (off_t)i * CHUNK) != CHUNK) {
            close(fd);
            unlink(path);
            return -1;
        }
        if (i % 64 == 63) fdatasync(fd);
    }
    fdatasync(fd);
    double per_page = (cpu_s() - c0) * 1e6 / ((double)mib * (CHUNK / 4096));
    close(fd);
    unlink(path);
    return per_page;
}

int main(int argc, char **argv)
{
    if (argc != 3 || atol(argv[2]) <= 0) {
        fprintf(stderr, "usage: %s DIR MIB\n", argv[0]);
        return 2;
    }
    long mib = atol(argv[2]);
    char path[4096];
    snprintf(path, sizeof(path), "%s/pagecache_probe.tmp", argv[1]);
    char *chunk = malloc(CHUNK);
    if (!chunk) return 1;
    memset(chunk, 0x5a, CHUNK);
    double fresh = write_pass(path, mib, chunk);
    double reused = write_pass(path, mib, chunk);
    free(chunk);
    if (fresh < 0 || reused < 0) {
        fprintf(stderr, "pagecache_probe: cannot write %s\n", path);
        return 1;
    }
    printf("pagecache_probe: mib=%ld fresh_us_per_page=%.2f reused_us_per_page=%.2f ratio=%.1f\n",
           mib, fresh, reused, reused > 0 ? fresh / reused : 0.0);
    return 0;
}
