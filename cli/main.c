/* main.c -- hookgate-admin: the operator's command line for the admin API of one gateway or
 * of several shared-nothing nodes (dead letters, subscribers, events), printing tables or,
 * with --json, the answers. This file parses the arguments and runs the command.
 *
 * With several nodes (--url a,b,c) every command asks all of them at once: counters are
 * summed, dead-letter pages merged oldest first with ids qualified by node ("2:25"), and a
 * node that does not answer is reported on stderr by name while the others' results are
 * still printed; the exit status is then 1. */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/client.h"
#include "cli/dlq.h"
#include "cli/dlq_list.h"
#include "cli/event.h"
#include "cli/merge.h"
#include "cli/subscribers.h"
#include "core/xalloc.h"

static const char usage[] =
    "usage: hookgate-admin [--url URL[,URL...]] [--token TOKEN] [--json] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  dlq list [FILTERS] [--limit N] [--cursor C]  list dead letters, oldest first\n"
    "  dlq show ID                 one dead letter with its event and attempt history\n"
    "  dlq retry ID                redrive one dead letter\n"
    "  dlq retry --all [FILTERS]   redrive every dead letter matching FILTERS\n"
    "  dlq delete ID               delete one dead letter\n"
    "  dlq purge FILTERS | --all   delete every dead letter matching FILTERS\n"
    "  subscribers [--per-node]    subscribers with their delivery counters\n"
    "  subscribers pause NAME      stop attempts to a subscriber (deliveries wait)\n"
    "  subscribers resume NAME     attempt its deliveries again\n"
    "  subscribers replay NAME [--type T] [--since TIME] [--until TIME]\n"
    "                              a new delivery to it of every stored event it matches\n"
    "  event ID                    an event and the state of each of its deliveries\n"
    "\n"
    "FILTERS: --subscriber NAME  --type TYPE  --since TIME  --until TIME\n"
    "  TIME is RFC 3339 (2026-11-27T10:00:00Z) or an age: 90s, 15m, 2h, 7d (that long ago).\n"
    "  For dlq, since/until bound dead_at; for replay, the event's occurred_at.\n"
    "\n"
    "Several nodes: give --url (or $HOOKGATE_URL) a comma-separated list. Every node is\n"
    "asked; counters are summed (--per-node shows each node's row); dead-letter ids are\n"
    "qualified by node, 2:25 being dead letter 25 of the second node in the list.\n"
    "\n"
    "Options:\n"
    "  --url URL      the gateway or nodes (default $HOOKGATE_URL, else http://127.0.0.1:8080)\n"
    "  --token TOKEN  the admin token (default $HOOKGATE_ADMIN_TOKEN)\n"
    "  --json         print the JSON answer instead of tables\n"
    "  --timeout S    give up on a node after S seconds (default 60)\n"
    "  -h, --help     show this help and exit\n"
    "  --version      print the version and exit\n"
    "\n"
    "Exit status: 0 done, 1 a request failed or a node did not answer (the reason is\n"
    "printed, naming the node), 2 usage.\n";

static struct {
    bool json, all, per_node;
    client_filters_t filters;
    const char *limit, *cursor;
} opt;

/* Global so that it stays reachable when die_usage exits. */
static client_t client;

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("hookgate-admin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n(see hookgate-admin --help)\n", stderr);
    va_end(ap);
    exit(2);
}

/* A TIME option: RFC 3339 passes through (the server validates it); an age such as 15m
 * becomes the RFC 3339 time that long ago. */
static const char *time_arg(const char *name, const char *s)
{
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    long long unit = 0;
    if (end != s && end[0] && !end[1] && n >= 0 && errno == 0) {
        switch (end[0]) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        }
    }
    if (!unit) return s;
    if (n > 100000LL * 86400 / unit) die_usage("--%s %s: too far back", name, s);
    time_t t = time(NULL) - (time_t)(n * unit);
    struct tm tm;
    static char out[2][32]; /* since and until */
    char *o = out[strcmp(name, "since") == 0 ? 0 : 1];
    gmtime_r(&t, &tm);
    strftime(o, sizeof(out[0]), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return o;
}

static bool has_filters(void)
{
    const client_filters_t *f = &opt.filters;
    return f->subscriber || f->type || f->since || f->until;
}

static void no_filters(const char *what)
{
    if (has_filters() || opt.all || opt.limit || opt.cursor)
        die_usage("%s takes no filter or paging options", what);
}

static void no_per_node(const char *what)
{
    if (opt.per_node) die_usage("%s takes no --per-node", what);
}

/* The node of a dead-letter id as the operator wrote it, and its own id (*local). */
static size_t id_node(const char *qid, const char **local)
{
    size_t node;
    int rc = merge_id_parse(qid, client.nnodes, &node, local);
    if (rc == -EDESTADDRREQ)
        die_usage("dead letter %s: with several nodes, qualify the id with its node (e.g. 2:%s)",
                  qid, qid);
    if (rc)
        die_usage("dead letter %s: expected NODE:ID with NODE from 1 to %zu", qid, client.nnodes);
    return node;
}

/* dlq list over several nodes: the limit and the composite cursor are checked here (a single
 * gateway checks its own). */
static void run_dlq_list_merged(void)
{
    long limit = 100;
    if (opt.limit) {
        char *end;
        errno = 0;
        limit = strtol(opt.limit, &end, 10);
        if (*end || end == opt.limit || errno || limit < 1 || limit > 1000)
            die_usage("--limit %s: expected 1 to 1000", opt.limit);
    }
    size_t n = client.nnodes;
    merge_pos_t *pos = xcalloc(n, sizeof(*pos));
    if (opt.cursor && merge_cursor_parse(opt.cursor, n, pos) != 0)
        die_usage("--cursor: not a cursor of this list of %zu nodes", n);
    dlq_list_merged(&client, &opt.filters, (size_t)limit, pos, opt.json);
    merge_pos_free(pos, n);
    free(pos);
}

static void run_dlq(int argc, char **argv)
{
    const char *sub = argv[1];
    const char *qid = argc == 3 ? argv[2] : NULL;
    const char *id;
    if (argc > 3) die_usage("too many arguments");
    if (strcmp(sub, "list") == 0 && !qid) {
        if (opt.all) die_usage("dlq list takes no --all");
        if (client_cluster(&client))
            run_dlq_list_merged();
        else
            dlq_list_single(&client, &opt.filters, opt.limit, opt.cursor, opt.json);
    } else if (strcmp(sub, "show") == 0 && qid) {
        no_filters("dlq show");
        size_t node = id_node(qid, &id);
        dlq_show(&client, node, id, qid, opt.json);
    } else if (strcmp(sub, "delete") == 0 && qid) {
        no_filters("dlq delete");
        size_t node = id_node(qid, &id);
        dlq_change_one(&client, false, node, id, opt.json);
    } else if (strcmp(sub, "retry") == 0) {
        if (qid) {
            no_filters("dlq retry ID");
            size_t node = id_node(qid, &id);
            dlq_change_one(&client, true, node, id, opt.json);
        } else {
            if (!opt.all) die_usage("dlq retry needs an ID, or --all [FILTERS]");
            if (opt.limit || opt.cursor) die_usage("dlq retry takes no paging options");
            dlq_change_all(&client, true, &opt.filters, opt.json);
        }
    } else if (strcmp(sub, "purge") == 0 && !qid) {
        /* Deleting the whole queue must be asked for explicitly. */
        if (!has_filters() && !opt.all)
            die_usage("dlq purge needs FILTERS, or --all to delete every dead letter");
        if (opt.limit || opt.cursor) die_usage("dlq purge takes no paging options");
        dlq_change_all(&client, false, &opt.filters, opt.json);
    } else {
        die_usage("unknown dlq command or wrong arguments: dlq %s", sub);
    }
}

static void run_subscribers(int argc, char **argv)
{
    if (argc == 1) {
        no_filters("subscribers");
        subs_list(&client, opt.per_node, opt.json);
        return;
    }
    const char *action = argv[1];
    if (argc != 3) die_usage("subscribers %s needs one subscriber NAME", action);
    no_per_node(action);
    const client_filters_t *f = NULL;
    if (strcmp(action, "pause") == 0 || strcmp(action, "resume") == 0) {
        no_filters(strcmp(action, "pause") == 0 ? "subscribers pause" : "subscribers resume");
    } else if (strcmp(action, "replay") == 0) {
        if (opt.filters.subscriber || opt.all || opt.limit || opt.cursor)
            die_usage("subscribers replay takes --type, --since and --until only");
        f = &opt.filters;
    } else {
        die_usage("unknown subscribers command: %s", action);
    }
    subs_action(&client, action, argv[2], f, opt.json);
}

static void run(int argc, char **argv)
{
    if (argc < 1) die_usage("no command given");
    const char *cmd = argv[0];
    if (strcmp(cmd, "subscribers") == 0) {
        run_subscribers(argc, argv);
        return;
    }
    no_per_node(cmd);
    if (strcmp(cmd, "event") == 0 && argc == 2) {
        no_filters("event");
        event_show(&client, argv[1], opt.json);
    } else if (strcmp(cmd, "dlq") == 0 && argc >= 2) {
        run_dlq(argc, argv);
    } else {
        die_usage("unknown command or wrong arguments: %s", cmd);
    }
}

int main(int argc, char **argv)
{
    enum {
        O_URL = 1000,
        O_TOKEN,
        O_JSON,
        O_ALL,
        O_SUB,
        O_TYPE,
        O_SINCE,
        O_UNTIL,
        O_LIMIT,
        O_CURSOR,
        O_PER_NODE,
        O_TIMEOUT,
        O_VERSION
    };
    static const struct option opts[] = {
        {"url", required_argument, NULL, O_URL},
        {"token", required_argument, NULL, O_TOKEN},
        {"json", no_argument, NULL, O_JSON},
        {"all", no_argument, NULL, O_ALL},
        {"subscriber", required_argument, NULL, O_SUB},
        {"type", required_argument, NULL, O_TYPE},
        {"since", required_argument, NULL, O_SINCE},
        {"until", required_argument, NULL, O_UNTIL},
        {"limit", required_argument, NULL, O_LIMIT},
        {"cursor", required_argument, NULL, O_CURSOR},
        {"per-node", no_argument, NULL, O_PER_NODE},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    const char *urls = getenv("HOOKGATE_URL");
    const char *token = getenv("HOOKGATE_ADMIN_TOKEN");
    long timeout_s = 60;
    int o;
    char *end;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case O_URL: urls = optarg; break;
        case O_TOKEN: token = optarg; break;
        case O_JSON: opt.json = true; break;
        case O_ALL: opt.all = true; break;
        case O_SUB: opt.filters.subscriber = optarg; break;
        case O_TYPE: opt.filters.type = optarg; break;
        case O_SINCE: opt.filters.since = time_arg("since", optarg); break;
        case O_UNTIL: opt.filters.until = time_arg("until", optarg); break;
        case O_LIMIT: opt.limit = optarg; break;
        case O_CURSOR: opt.cursor = optarg; break;
        case O_PER_NODE: opt.per_node = true; break;
        case O_TIMEOUT:
            errno = 0;
            timeout_s = strtol(optarg, &end, 10);
            if (*end || end == optarg || errno || timeout_s < 1 || timeout_s > 86400)
                die_usage("--timeout %s: expected seconds from 1 to 86400", optarg);
            break;
        case 'h': fputs(usage, stdout); return 0;
        case O_VERSION: puts("hookgate-admin " HOOKGATE_VERSION); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (client_init(&client, urls, token, timeout_s) != 0)
        die_usage("--url %s: an empty node in the list", urls);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    run(argc - optind, argv + optind);
    curl_global_cleanup();
    client_free(&client);
    return client.failed ? 1 : 0;
}
