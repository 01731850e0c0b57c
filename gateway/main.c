/* main.c -- hookgate: command line, start-up, signals and orderly shutdown. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "core/log.h"
#include "gateway/admin.h"
#include "gateway/console.h"
#include "gateway/delivery.h"
#include "gateway/healthz.h"
#include "gateway/http.h"
#include "gateway/ingest.h"
#include "gateway/metrics.h"
#include "gateway/retention.h"
#include "gateway/runtime.h"
#include "gateway/scrape.h"
#include "gateway/tls.h"
#include "gateway/writer.h"
#include "store/store.h"

static const char usage[] =
    "usage: hookgate --config FILE [--check]\n"
    "\n"
    "Webhook relay and fan-out gateway.\n"
    "\n"
    "  -c, --config FILE  the JSON config file (required)\n"
    "      --check        validate the config, print ok or the errors, and exit\n"
    "  -h, --help         show this help and exit\n"
    "  -V, --version      show the version and exit\n"
    "\n"
    "Signals: SIGHUP reloads the config; SIGTERM/SIGINT stop gracefully.\n";

/* One line per config problem: plain lines for --check (an answer to the operator at the
 * terminal), log lines at level error otherwise. */
static void print_errors(const char *errors, bool as_log)
{
    for (const char *line = errors; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (as_log)
            log_line(LOG_ERROR, "config: %.*s", (int)n, line);
        else
            fprintf(stderr, "config: %.*s\n", (int)n, line);
        line += n + (nl != NULL);
    }
}

static const char *config_path;
static dlv_t *worker;

/* SIGHUP: an invalid new config is logged and the old one stays in force. Settings
 * bound at start-up (listen, data_dir, map_size_mb, tls on or off) keep their old values
 * until a restart. The TLS files are read again, so a renewed certificate is taken up. */
static void reload(void)
{
    cfg_t *cfg;
    char *errors = NULL;
    if (cfg_load_file(config_path, &cfg, &errors) != 0) {
        log_line(LOG_ERROR, "reload failed, keeping the config in force:");
        print_errors(errors, true);
        free(errors);
        return;
    }
    SSL_CTX *tls;
    char err[512];
    if (tls_context_new(cfg, &tls, err, sizeof(err)) != 0) {
        log_line(LOG_ERROR, "reload failed, keeping the config in force:");
        log_line(LOG_ERROR, "config: %s", err);
        cfg_free(cfg);
        return;
    }
    const cfg_t *old = rt_config_hold();
    if (strcmp(old->listen, cfg->listen) != 0 || strcmp(old->data_dir, cfg->data_dir) != 0 ||
        old->map_size_mb != cfg->map_size_mb || old->max_connections != cfg->max_connections ||
        old->max_buffered_body_bytes != cfg->max_buffered_body_bytes ||
        old->max_body_bytes != cfg->max_body_bytes ||
        (old->tls_cert_file == NULL) != (cfg->tls_cert_file == NULL))
        log_line(LOG_WARN, "reload: changes of listen, data_dir, map_size_mb, max_connections, "
                           "max_buffered_body_bytes, the HTTP server's max_body_bytes and "
                           "turning tls on or off take effect at the next restart");
    rt_config_release(old);
    if (tls) http_set_tls(tls);
    log_set_format_json(cfg->log_json);
    rt_config_install(cfg);
    log_line(LOG_INFO, "config reloaded (%zu subscribers)", cfg->nsubscribers);
}

/* The writer's announce hook: deliveries committed by ingest or a redrive are due now. */
static void announce_to_worker(void *ctx)
{
    dlv_notify(ctx);
}

/* Signals are blocked in every thread and taken here, synchronously. */
static void *signal_main(void *arg)
{
    sigset_t *set = arg;
    pthread_setname_np(pthread_self(), "hookgate-sig");
    for (;;) {
        int sig;
        if (sigwait(set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            reload();
            continue;
        }
        log_line(LOG_INFO, "%s received, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        http_request_stop();
        return NULL;
    }
}

int main(int argc, char **argv)
{
    /* Signals are blocked first of all, so that from here on a SIGTERM, however early,
     * reaches the signal thread (which starts later) and becomes an orderly stop. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    bool check = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'k': check = true; break;
        case 'h': fputs(usage, stdout); return 0;
        case 'V': printf("hookgate %s\n", HOOKGATE_VERSION); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!config_path || optind != argc) {
        fputs(usage, stderr);
        return 2;
    }

    cfg_t *cfg;
    char *errors = NULL;
    if (cfg_load_file(config_path, &cfg, &errors) != 0) {
        print_errors(errors, !check);
        free(errors);
        return 1;
    }
    log_set_format_json(cfg->log_json);
    /* The TLS files are read here, so that --check and a start both fail on a missing or
     * unreadable certificate, and a start fails before anything else is opened. */
    SSL_CTX *tls;
    char err[512];
    if (tls_context_new(cfg, &tls, err, sizeof(err)) != 0) {
        if (check)
            fprintf(stderr, "config: %s\n", err);
        else
            log_line(LOG_ERROR, "config: %s", err);
        cfg_free(cfg);
        return 1;
    }
    if (check) {
        puts("ok");
        SSL_CTX_free(tls);
        cfg_free(cfg);
        return 0;
    }
    rt_config_install(cfg);

    signal(SIGPIPE, SIG_IGN);
    /* Request bodies and their copies are large and short-lived: a fixed mmap threshold
     * gives their memory back to the system when they are freed, instead of glibc raising
     * the threshold and keeping a high-water heap (the memory bound in README holds for
     * RSS, not only for live bytes). */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);

    store_t *st;
    int rc = store_open(cfg->data_dir, cfg->map_size_mb, &st, err, sizeof(err));
    if (rc != 0) {
        log_line(LOG_ERROR, "store: %s", err);
        SSL_CTX_free(tls);
        return 1;
    }
    if (store_opened_version(st) < STORE_FORMAT_VERSION)
        log_line(LOG_INFO,
                 "store: upgraded %s from format version %u to %d (older hookgate versions "
                 "refuse it now)",
                 cfg->data_dir, store_opened_version(st), STORE_FORMAT_VERSION);
    wr_t *w;
    ret_t *retention;
    if ((rc = wr_start(st, &w)) != 0 || (rc = retention_start(st, w, &retention)) != 0 ||
        (rc = dlv_start(st, w, &worker)) != 0) {
        log_line(LOG_ERROR, "cannot start worker threads: %s", strerror(-rc));
        SSL_CTX_free(tls);
        return 1;
    }
    wr_set_announce(w, announce_to_worker, worker);
    pthread_t sig_thread;
    pthread_create(&sig_thread, NULL, signal_main, &set);

    admin_set_retention(retention);
    http_deps_t deps = {.st = st, .w = w, .d = worker};
    ingest_init(&deps);
    admin_init(&deps);
    scrape_init(&deps);
    http_route("/events", ingest_on_req);
    http_route("/admin/ui", console_on_req); /* before "/admin": the first match wins */
    http_route("/admin", admin_on_req);
    http_route("/metrics", scrape_on_req);
    http_route("/healthz", healthz_on_req);
    rc = http_serve(cfg, tls, err, sizeof(err));
    if (rc != 0) {
        log_line(LOG_ERROR, "%s", err);
        pthread_cancel(sig_thread);
    }
    pthread_join(sig_thread, NULL);

    retention_stop(retention);
    const cfg_t *last = rt_config_hold();
    uint32_t grace_ms = last->shutdown_grace_ms;
    rt_config_release(last);
    dlv_stop(worker, grace_ms);
    wr_stop(w);
    store_close(st);
    rt_config_free_all();
    metrics_reset();
    if (rc == 0) log_line(LOG_INFO, "stopped");
    return rc == 0 ? 0 : 1;
}
