/* health.h -- what /healthz reports: whether the store can commit and whether the
 * delivery worker is making progress. Writers of the state are the writer thread and the
 * delivery worker; any thread may read it. Pure state, no I/O: times are passed in. */
#ifndef HOOKGATE_HEALTH_H
#define HOOKGATE_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A delivery worker that has not finished a claim round for this long is stalled. Its
 * loop runs a round at least once a second, so this only fires on a real stall. */
#define HEALTH_WORKER_STALL_MS 10000

/* The writer's view of the store: a commit failed with -errno rc at mono_ms... */
void health_commit_failed(int rc, int64_t mono_ms);
/* ...or succeeded: the store is healthy again. */
void health_commit_ok(void);
/* The monotonic time since which commits have been failing without a success in
 * between, or -1 when the last commit succeeded. */
int64_t health_failing_since(void);

/* The delivery worker finished a claim round without a store error at mono_ms. */
void health_worker_progress(int64_t mono_ms);
/* The delivery worker started (it counts as progressing from then on) or stopped. */
void health_worker_running(bool running, int64_t mono_ms);

/* Checks the state at mono_ms. Returns true when healthy; otherwise false, with *check
 * naming the failing check ("store" or "delivery_worker") and detail a sentence for
 * operators (NUL-terminated, truncated to detail_len). */
bool health_check(int64_t mono_ms, const char **check, char *detail, size_t detail_len);

#endif
