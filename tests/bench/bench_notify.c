/*
 * bench_notify: the bridge's own work for each Notify (decode, state and
 * diff, event rendering) replayed from a corpus of captured frames, in a
 * loop; a benchmark, not a test.
 *
 * DESIGN.  The corpus (tests/bench/make_corpus.py) holds real Notify frames
 * of ipo-sim under the ingest benchmark's kind of load, each with the
 * subscription it came on.  Each frame goes the way pbx/ingest.c takes it:
 * codec_frame_decode_into (one arena, as the link decodes), then
 * snap_lines_apply / snap_user_apply /
 * snap_presence_apply / snap_queue_apply / snap_calls_apply, and every change
 * through event_render (and event_render_tombstone after a delete on a
 * compacted topic), and, as ingest runs them, the queue statistics: every
 * change to qstats_change, a qstats_flush after each Notify and each record
 * through event_render_queue_stats.  No sockets, no Kafka, no Redis: what is
 * left is the CPU the bridge spends per Notify on its own.
 * One pass over the corpus warms the state up (every entity created); then
 * bench_measure() replays it `--passes` times.  tests/bench/callgrind.sh runs
 * it under callgrind, collecting inside bench_measure only, and prints
 * instructions per Notify.  Events carry a fixed clock, so their bytes are
 * the same from run to run: the digests printed at the end (FNV-1a 64 of
 * every event's topic, key, value and headers: `digest` over the events of
 * the state's changes, `qstats digest` over the queue statistics' records)
 * must not change when the code is made faster, and --dump FILE writes the
 * events themselves for a diff.  --no-qstats leaves the queue statistics
 * out (queue_stats=false); --lean renders the envelope as the event_lean
 * setting does (the bytes, and so the digest, change: that is its point).
 *
 *   bench_notify [--passes N] [--no-digest] [--no-qstats] [--lean L] [--dump FILE] CORPUS   (CORPUS "-" is stdin)
 *
 * --no-digest leaves the digest out (its byte-by-byte hash costs a fifth of
 * the rest): callgrind.sh counts instructions without it and takes the
 * digest from a run of its own.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec_frame.h"
#include "event.h"
#include "qstats.h"
#include "snap.h"

typedef enum bench_kind { BENCH_LINES, BENCH_USER, BENCH_QUEUE, BENCH_PRESENCE, BENCH_PARK } bench_kind_t;

static const char *const bench_kind_names[] = {"lines", "user", "queue", "presence", "parkserver"};

/* One captured frame and the subscription it came on. */
typedef struct bench_frame {
  bench_kind_t kind;
  char guid[64], extn[32];
  int snapshot;
  uint8_t *data;
  size_t len;
} bench_frame_t;

typedef struct bench {
  bench_frame_t *frames;
  size_t n_frames, cap_frames;
  char (*lref_guid)[64]; /* presence lref -> user guid */
  size_t n_lref;
  snap_t *snap;
  qstats_t *qstats; /* NULL: --no-qstats */
  codec_arena_t *arena; /* as the link decodes: each message into the same arena */
  event_ctx_t ctx;
  event_origin_t origin;
  int64_t clock_ms; /* the fixed clock events carry */
  uint64_t digest, qstats_digest;
  size_t notifies, changes, events, event_bytes, records;
  int with_digest;
  FILE *dump;
} bench_t;

static void bench_digest(uint64_t *digest, const void *data, size_t len) {
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++)
    *digest = (*digest ^ p[i]) * 1099511628211ull;
  *digest = (*digest ^ 0xff) * 1099511628211ull; /* a separator */
}

static void bench_event(bench_t *bench, const event_t *event) {
  bench->events++;
  bench->event_bytes += event->value_len;
  if (bench->with_digest) {
    uint64_t *digest = event->topic_id == TOPIC_QUEUE_STATS ? &bench->qstats_digest : &bench->digest;
    bench_digest(digest, event->topic, strlen(event->topic));
    bench_digest(digest, event->key, strlen(event->key));
    bench_digest(digest, event->value ? event->value : "", event->value_len);
    for (size_t i = 0; i < event->n_headers; i++) {
      bench_digest(digest, event->headers[i].name, strlen(event->headers[i].name));
      bench_digest(digest, event->headers[i].value, strlen(event->headers[i].value));
    }
  }
  if (bench->dump) {
    fprintf(bench->dump, "%s %s", event->topic, event->key);
    for (size_t i = 0; i < event->n_headers; i++)
      fprintf(bench->dump, " %s=%s", event->headers[i].name, event->headers[i].value);
    fprintf(bench->dump, "\n%s\n", event->value ? event->value : "(tombstone)");
  }
}

static int64_t bench_clock(void) { return 1764067722123LL; }

/* snap's callback: as ingest_on_change, without the store and the sink. */
static void bench_on_change(void *opaque, const snap_change_t *change) {
  bench_t *bench = opaque;
  event_t event;
  char errstr[256];
  bench->changes++;
  topic_id_t topic = event_kind_topic(change->kind);
  if (bench->qstats)
    qstats_change(bench->qstats, change, bench->origin.ts_ms);
  if (event_render(&bench->ctx, topic, change, &bench->origin, &event, errstr, sizeof(errstr)) != 0) {
    fprintf(stderr, "bench_notify: %s\n", errstr);
    exit(1);
  }
  bench_event(bench, &event);
  event_clear(&event);
  if (change->op == 'd' && topics_row(topic)->compacted &&
      event_render_tombstone(&bench->ctx, topic, change, &event, errstr, sizeof(errstr)) == 0) {
    bench_event(bench, &event);
    event_clear(&event);
  }
  if (change->kind == SNAP_CALL) { /* the live copy, as ingest_on_change */
    int rc = change->op == 'd'
                 ? event_render_tombstone(&bench->ctx, TOPIC_LIVE_CALLS, change, &event, errstr, sizeof(errstr))
                 : event_render(&bench->ctx, TOPIC_LIVE_CALLS, change, &bench->origin, &event, errstr, sizeof(errstr));
    if (rc == 0) {
      bench_event(bench, &event);
      event_clear(&event);
    }
  }
}

/* A queue's statistics record: as ingest_on_queue_stats. */
static void bench_on_queue_stats(void *opaque, const qstats_record_t *record) {
  bench_t *bench = opaque;
  event_t event;
  char errstr[256];
  bench->records++;
  if (event_render_queue_stats(&bench->ctx, record->queue_guid, record->seq, record->ts_ms, record->text, record->len,
                               &event, errstr, sizeof(errstr)) != 0) {
    fprintf(stderr, "bench_notify: %s\n", errstr);
    exit(1);
  }
  bench_event(bench, &event);
  event_clear(&event);
}

/* One frame, as ingest_notify applies it. */
static void bench_apply(bench_t *bench, const bench_frame_t *f) {
  Message *msg = NULL;
  char errstr[256];
  if (codec_frame_decode_into(bench->arena, f->data, f->len, CODEC_FRAMING_OPENAPI, 0, &msg, errstr,
                              sizeof(errstr)) != 0) {
    fprintf(stderr, "bench_notify: corpus frame does not decode: %s\n", errstr);
    exit(1);
  }
  if (msg->payload_case != MESSAGE__PAYLOAD_NOTIFY)
    return;
  const Notify *notify = msg->notify;
  bench->notifies++;
  bench->origin = (event_origin_t){notify->subscribe_id, notify->notify_id, f->snapshot, bench->clock_ms++, 0};
  switch (notify->payload_case) {
  case NOTIFY__PAYLOAD_LINES:
    snap_lines_apply(bench->snap, notify->lines, f->snapshot);
    break;
  case NOTIFY__PAYLOAD_USER:
    snap_user_apply(bench->snap, f->guid, notify->user, f->snapshot);
    break;
  case NOTIFY__PAYLOAD_QUEUE:
    snap_queue_apply(bench->snap, f->guid, notify->queue, f->snapshot);
    break;
  case NOTIFY__PAYLOAD_PRESENCE:
    for (size_t i = 0; i < notify->presence->n_entry; i++) {
      const NotifyPresentity *entry = notify->presence->entry[i];
      if (entry->lref > 0 && (size_t)entry->lref < bench->n_lref && bench->lref_guid[entry->lref][0])
        snap_presence_apply(bench->snap, bench->lref_guid[entry->lref], entry, f->snapshot);
    }
    break;
  case NOTIFY__PAYLOAD_CALLCONTROL: {
    snap_line_t line = {f->kind == BENCH_QUEUE  ? SNAP_LINE_QUEUE
                        : f->kind == BENCH_PARK ? SNAP_LINE_PARK
                                                : SNAP_LINE_USER,
                        f->guid, f->extn};
    snap_calls_apply(bench->snap, &line, notify->callcontrol, f->snapshot);
    break;
  }
  default:
    break;
  }
  if (bench->qstats) /* as ingest_stats_flush, at the end of each Notify */
    qstats_flush(bench->qstats, bench->origin.ts_ms);
}

static void bench_pass(bench_t *bench) {
  for (size_t i = 0; i < bench->n_frames; i++)
    bench_apply(bench, &bench->frames[i]);
}

/* The measured part (callgrind.sh collects inside this function only). */
__attribute__((noinline)) void bench_measure(bench_t *bench, int passes);
__attribute__((noinline)) void bench_measure(bench_t *bench, int passes) {
  for (int p = 0; p < passes; p++)
    bench_pass(bench);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* One corpus line; 0, or -1 with errstr. */
static int bench_parse_line(bench_t *bench, char *line, char *errstr, size_t errstr_size) {
  char kind[16], guid[64], extn[32], *hex;
  int snapshot, off = 0;
  unsigned lref;
  if (line[0] == '#' || line[0] == '\n' || line[0] == '\0')
    return 0;
  if (sscanf(line, "P %u %63s", &lref, guid) == 2) {
    if (lref >= bench->n_lref) {
      size_t n = lref + 64;
      char(*grown)[64] = realloc(bench->lref_guid, n * sizeof(*grown));
      if (!grown)
        goto oom;
      memset(grown + bench->n_lref, 0, (n - bench->n_lref) * sizeof(*grown));
      bench->lref_guid = grown;
      bench->n_lref = n;
    }
    snprintf(bench->lref_guid[lref], sizeof(bench->lref_guid[lref]), "%s", guid);
    return 0;
  }
  if (sscanf(line, "N %15s %63s %31s %d %n", kind, guid, extn, &snapshot, &off) != 4 || !off) {
    snprintf(errstr, errstr_size, "not a corpus line");
    return -1;
  }
  if (bench->n_frames == bench->cap_frames) {
    size_t n = bench->cap_frames ? bench->cap_frames * 2 : 1024;
    bench_frame_t *grown = realloc(bench->frames, n * sizeof(*grown));
    if (!grown)
      goto oom;
    bench->frames = grown;
    bench->cap_frames = n;
  }
  bench_frame_t *f = &bench->frames[bench->n_frames];
  memset(f, 0, sizeof(*f));
  f->kind = BENCH_LINES;
  while (f->kind <= BENCH_PARK && strcmp(bench_kind_names[f->kind], kind) != 0)
    f->kind++;
  if (f->kind > BENCH_PARK) {
    snprintf(errstr, errstr_size, "unknown subscription kind '%s'", kind);
    return -1;
  }
  snprintf(f->guid, sizeof(f->guid), "%s", strcmp(guid, "-") ? guid : "");
  snprintf(f->extn, sizeof(f->extn), "%s", strcmp(extn, "-") ? extn : "");
  f->snapshot = snapshot;
  hex = line + off;
  size_t n = strcspn(hex, " \r\n");
  if (n % 2 || !(f->data = malloc(n / 2 + 1)))
    goto bad_hex;
  for (size_t i = 0; i < n; i += 2) {
    int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
    if (hi < 0 || lo < 0) {
      free(f->data);
      goto bad_hex;
    }
    f->data[i / 2] = (uint8_t)(hi << 4 | lo);
  }
  f->len = n / 2;
  bench->n_frames++;
  return 0;
bad_hex:
  snprintf(errstr, errstr_size, "bad hex frame");
  return -1;
oom:
  snprintf(errstr, errstr_size, "out of memory");
  return -1;
}

static int bench_load(bench_t *bench, const char *path, char *errstr, size_t errstr_size) {
  FILE *in = strcmp(path, "-") ? fopen(path, "r") : stdin;
  char *line = NULL, why[128];
  size_t cap = 0, lineno = 0;
  int rc = -1;
  if (!in) {
    snprintf(errstr, errstr_size, "%s: cannot open", path);
    return -1;
  }
  while (getline(&line, &cap, in) >= 0) {
    lineno++;
    if (bench_parse_line(bench, line, why, sizeof(why)) != 0) {
      snprintf(errstr, errstr_size, "%s:%zu: %s", path, lineno, why);
      goto done;
    }
  }
  if (!bench->n_frames) {
    snprintf(errstr, errstr_size, "%s: no frames", path);
    goto done;
  }
  rc = 0;
done:
  free(line);
  if (in != stdin)
    fclose(in);
  return rc;
}

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  bench_t bench;
  const char *corpus = NULL, *dump = NULL, *lean = "off";
  int passes = 10, with_qstats = 1;
  char errstr[512];
  memset(&bench, 0, sizeof(bench));
  bench.with_digest = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc)
      passes = atoi(argv[++i]);
    else if (strcmp(argv[i], "--no-digest") == 0)
      bench.with_digest = 0;
    else if (strcmp(argv[i], "--no-qstats") == 0)
      with_qstats = 0;
    else if (strcmp(argv[i], "--lean") == 0 && i + 1 < argc)
      lean = argv[++i];
    else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc)
      dump = argv[++i];
    else if (!corpus && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
      corpus = argv[i];
    else
      corpus = NULL, i = argc;
  }
  if (!corpus || passes < 0) {
    fprintf(stderr, "usage: bench_notify [--passes N] [--no-digest] [--no-qstats] [--lean off|before|names|all] [--dump FILE] CORPUS|-\n");
    return 2;
  }
  if (bench_load(&bench, corpus, errstr, sizeof(errstr)) != 0) {
    fprintf(stderr, "bench_notify: %s\n", errstr);
    return 1;
  }
  if (dump && !(bench.dump = fopen(dump, "w"))) {
    fprintf(stderr, "bench_notify: %s: cannot write\n", dump);
    return 1;
  }
  static topics_t topics;
  char terr[128];
  topics_init(&topics, "mtcti3.", terr, sizeof(terr));
  bench.ctx = (event_ctx_t){"bench", &topics, "0.1.0", event_lean_flags(lean)};
  bench.clock_ms = 1764067722000;
  bench.digest = bench.qstats_digest = 1469598103934665603ull;
  bench.snap = snap_new(bench_on_change, &bench);
  if (bench.snap)
    snap_set_clock(bench.snap, bench_clock); /* call legs' keys: the same in every run */
  bench.arena = codec_arena_new();
  if (!bench.snap || !bench.arena)
    return 1;
  if (with_qstats) { /* the bridge's defaults: queue_stats on, 20 s service level, 900 s window, UTC */
    qstats_config_t qc = {"bench", 20, 900, "UTC"};
    if (!(bench.qstats = qstats_new(&qc, bench_on_queue_stats, &bench, errstr, sizeof(errstr)))) {
      fprintf(stderr, "bench_notify: %s\n", errstr);
      return 1;
    }
  }
  bench_pass(&bench); /* warm up: every entity exists */
  size_t warm_notifies = bench.notifies, warm_events = bench.events, warm_changes = bench.changes;
  size_t warm_bytes = bench.event_bytes, warm_records = bench.records;
  double t0 = cpu_seconds();
  bench_measure(&bench, passes);
  double t1 = cpu_seconds();
  size_t notifies = bench.notifies - warm_notifies, events = bench.events - warm_events;
  size_t changes = bench.changes - warm_changes, bytes = bench.event_bytes - warm_bytes;
  printf("frames %zu\nwarm-up notifies %zu events %zu\nmeasured passes %d notifies %zu changes %zu events %zu\n",
         bench.n_frames, warm_notifies, warm_events, passes, notifies, changes, events);
  printf("queue statistics records %zu\n", bench.records - warm_records);
  printf("event bytes %zu (avg %.0f)\n", bytes, events ? (double)bytes / (double)events : 0.0);
  printf("cpu us per notify %.2f\n", notifies ? (t1 - t0) * 1e6 / (double)notifies : 0.0);
  if (bench.with_digest) {
    printf("digest %016llx\n", (unsigned long long)bench.digest);
    if (bench.qstats)
      printf("qstats digest %016llx\n", (unsigned long long)bench.qstats_digest);
  }
  qstats_destroy(bench.qstats);
  snap_destroy(bench.snap);
  codec_arena_free(bench.arena);
  if (bench.dump)
    fclose(bench.dump);
  for (size_t i = 0; i < bench.n_frames; i++)
    free(bench.frames[i].data);
  free(bench.frames);
  free(bench.lref_guid);
  return 0;
}
