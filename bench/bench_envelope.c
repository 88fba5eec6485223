/* bench_envelope.c: `switchyard bench envelope [--seconds S]`: envelopes
 * parsed and validated per second on one core (per CPU-second of this
 * thread; the wall-clock rate is reported too) for a 400-byte event, three
 * ways: plain, with a payload schema, and signed (Ed25519 verification). Needs no servers; the
 * schema, key pair and keyring are written to a temporary directory and removed afterwards. */
#include "bench.h"
#include "cliopt.h"
#include "clock.h"
#include "envelope.h"
#include "status.h"
#include "timefmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

static const char bench_schema[] =
    "{\"type\":\"object\",\"required\":[\"gap_id\",\"priority\",\"kind\"],"
    "\"additionalProperties\":false,\"properties\":{"
    "\"gap_id\":{\"type\":\"integer\",\"minimum\":1},"
    "\"priority\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":9},"
    "\"kind\":{\"enum\":[\"kg\",\"web\"]},"
    "\"title\":{\"type\":\"string\",\"maxLength\":200},"
    "\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"pattern\":\"^[a-z-]+$\"}},"
    "\"requested_by\":{\"type\":\"string\",\"format\":\"uuid\"}}}";

static void make_event(char *out, size_t cap, const char *ts)
{
    snprintf(out, cap,
             "{\"event_id\":\"evt-01HZX3K9Q7R2M4N5P6S8T0V1W2\",\"type\":\"kg.gap.ready\","
             "\"source\":\"monolith\",\"occurred_at\":\"%s\",\"subject\":\"gap/42\","
             "\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"schema_version\":1,"
             "\"payload\":{\"gap_id\":42,\"priority\":3,\"kind\":\"kg\",\"title\":\"missing "
             "edges between suppliers and plants\",\"tags\":[\"supply-chain\",\"graph\"],"
             "\"requested_by\":\"3f2b8c1e-9a4d-4e8b-b1c2-7d6e5f4a3b21\"}}",
             ts);
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* CPU time of this thread in ns: the rate per CPU-second is the capacity of
 * one core, and unlike wall time it does not drop when other processes
 * share the machine. */
static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Runs parse+validate for about 'seconds' of wall time; returns envelopes
 * per CPU-second of this thread and stores the wall-clock rate in *wall. */
static double run(const char *body, const envelope_meta *meta, const envelope_opts *opts,
                  double seconds, long *count, double *wall)
{
    int64_t start = sy_mono_ns(), deadline = start + (int64_t)(seconds * 1e9), now = start;
    int64_t cpu0 = thread_cpu_ns();
    long n = 0;
    while (now < deadline) {
        for (int i = 0; i < 1000; i++) {
            envelope *env = NULL;
            sy_error err;
            if (envelope_parse(body, strlen(body), meta, opts, &env, &err) != SY_OK) {
                char text[SY_ERROR_TEXT_MAX];
                fprintf(stderr, "bench envelope: event rejected: %s\n",
                        sy_error_text(&err, text, sizeof text));
                exit(SY_EXIT_FAILURE);
            }
            envelope_free(env);
        }
        n += 1000;
        now = sy_mono_ns();
    }
    *count += n;
    *wall = (double)n / ((double)(now - start) / 1e9);
    return (double)n / ((double)(thread_cpu_ns() - cpu0) / 1e9);
}

typedef struct bench_files {
    char dir[64], schema_dir[128], type_dir[160], schema[192], prefix[128], keyring[128];
} bench_files;

static int setup(bench_files *f, envelope_schemas **schemas, envelope_keyring **keyring)
{
    sy_error err;
    snprintf(f->dir, sizeof f->dir, "/tmp/sy-bench-envelope-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->schema_dir, sizeof f->schema_dir, "%s/schemas", f->dir);
    snprintf(f->type_dir, sizeof f->type_dir, "%s/kg.gap.ready", f->schema_dir);
    snprintf(f->schema, sizeof f->schema, "%s/v1.json", f->type_dir);
    snprintf(f->prefix, sizeof f->prefix, "%s/bench", f->dir);
    snprintf(f->keyring, sizeof f->keyring, "%s/bench.pub", f->dir);
    if (mkdir(f->schema_dir, 0700) != 0 || mkdir(f->type_dir, 0700) != 0 ||
        write_text(f->schema, bench_schema) != 0)
        return -1;
    if (envelope_schemas_load(f->schema_dir, schemas, &err) != SY_OK ||
        envelope_keygen("bench", f->prefix, &err) != SY_OK ||
        envelope_keyring_load(f->keyring, keyring, &err) != SY_OK) {
        fprintf(stderr, "bench envelope: %s\n", err.message);
        return -1;
    }
    return 0;
}

static void teardown(const bench_files *f)
{
    char path[256];
    unlink(f->schema);
    rmdir(f->type_dir);
    rmdir(f->schema_dir);
    snprintf(path, sizeof path, "%s.key", f->prefix);
    unlink(path);
    unlink(f->keyring);
    rmdir(f->dir);
}

typedef struct envelope_args {
    int64_t ms;
} envelope_args;

static const cliopt_opt ENVELOPE_OPTS[] = {
    {.name = "--seconds", .kind = CLIOPT_DURATION, CLIOPT_FIELD(envelope_args, ms), .min = 1,
     .max = INT64_MAX, .arg = "S",
     .help = "how long to measure each case (default 1 s)"},
};

static const cliopt_cmd ENVELOPE_CMD = {
    .name = "bench envelope",
    .synopsis = "switchyard bench envelope [--seconds S]",
    CLIOPT_TABLE(ENVELOPE_OPTS),
};

sy_status bench_envelope_parse(int argc, char **argv, bool *help, sy_error *err)
{
    envelope_args a = {.ms = 1000};
    return cliopt_parse(&ENVELOPE_CMD, argc, argv, &a, help, err);
}

int bench_envelope(int argc, char **argv)
{
    envelope_args a = {.ms = 1000};
    bool help = false;
    sy_error perr;
    sy_status pst = cliopt_parse(&ENVELOPE_CMD, argc, argv, &a, &help, &perr);
    if (pst != SY_OK || help)
        return cliopt_usage_exit(&ENVELOPE_CMD, pst, &perr);
    double seconds = (double)a.ms / 1000.0;
    bench_files f;
    envelope_schemas *schemas = NULL;
    envelope_keyring *keyring = NULL;
    int rc = setup(&f, &schemas, &keyring);
    char ts[SY_TIME_RFC3339_MAX], body[1024], *kid = NULL, *sig = NULL, keyfile[160];
    int64_t now = sy_clock_now_ms(NULL);
    make_event(body, sizeof body, sy_time_format_rfc3339(now, ts));
    snprintf(keyfile, sizeof keyfile, "%s.key", f.prefix);
    sy_error err;
    if (rc == 0 && envelope_sign(keyfile, body, strlen(body), &kid, &sig, &err) != SY_OK)
        rc = -1;
    if (rc != 0) {
        fprintf(stderr, "bench envelope: setup failed\n");
        teardown(&f);
        return SY_EXIT_FAILURE;
    }
    long total = 0;
    int64_t t0 = sy_mono_ns();
    envelope_meta plain = {0}, signed_meta = {.key_id = kid, .signature = sig};
    envelope_opts o_plain = {0}, o_schema = {0}, o_signed = {0};
    o_plain.now_ms = o_schema.now_ms = o_signed.now_ms = now;
    o_schema.schemas = schemas;
    o_schema.require_schema = true;
    o_signed.keyring = keyring;
    o_signed.require_signature = true;
    double w_plain, w_schema, w_signed;
    double r_plain = run(body, &plain, &o_plain, seconds, &total, &w_plain);
    double r_schema = run(body, &plain, &o_schema, seconds, &total, &w_schema);
    double r_signed = run(body, &signed_meta, &o_signed, seconds, &total, &w_signed);
    double secs = (double)(sy_mono_ns() - t0) / 1e9;
    printf("event: %zu bytes; rates per CPU-second of one thread (wall-clock rate in brackets)\n"
           "plain:       %.0f envelopes/s (%.0f)\nwith schema: %.0f envelopes/s (%.0f)\n"
           "signed:      %.0f envelopes/s (%.0f)\n",
           strlen(body), r_plain, w_plain, r_schema, w_schema, r_signed, w_signed);
    printf("{\"bench\":\"envelope\",\"event_bytes\":%zu,\"envelopes\":%ld,\"seconds\":%.3f,"
           "\"envelopes_per_s\":%.0f,\"schema_envelopes_per_s\":%.0f,"
           "\"signed_envelopes_per_s\":%.0f,\"wall_envelopes_per_s\":%.0f,"
           "\"wall_schema_envelopes_per_s\":%.0f,\"wall_signed_envelopes_per_s\":%.0f,"
           "\"rss_mib\":%.1f}\n",
           strlen(body), total, secs, r_plain, r_schema, r_signed, w_plain, w_schema, w_signed,
           bench_rss_mib());
    free(kid);
    free(sig);
    envelope_schemas_free(schemas);
    envelope_keyring_free(keyring);
    teardown(&f);
    return SY_EXIT_OK;
}
