/*
 * ready: the bridge's readiness, component by component.  See ready.h.
 */
#include "ready.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bclock.h"
#include "blog.h"

static const char *const ready_kind_names[] = {
#define READY_X_NAME(e, n, w) n,
    READY_COMPONENTS(READY_X_NAME)
#undef READY_X_NAME
};

#define READY_WHY_MAX 300

struct ready_component {
  struct ready_component *next;
  char *pbx; /* NULL: the process's */
  ready_kind_t kind;
  ready_probe_cb *probe;
  void *opaque;
  int ok;                    /* told (ready_set), when there is no probe */
  char told[READY_WHY_MAX];
};

struct ready {
  ready_component_t *head; /* in the order added */
  int64_t start_ms;        /* monotonic: the registry's birth, for "ready after N s" */
  int64_t since_ms;        /* monotonic: the current state's start */
  int state;               /* -1 never ready yet, 1 ready, 0 not ready since then */
};

const char *ready_kind_name(ready_kind_t kind) {
  return kind >= 0 && kind < READY__COUNT ? ready_kind_names[kind] : "?";
}

ready_t *ready_new(void) {
  ready_t *ready = calloc(1, sizeof(*ready));
  if (ready) {
    ready->start_ms = ready->since_ms = bclock_mono_ms();
    ready->state = -1;
  }
  return ready;
}

static void ready_component_free(ready_component_t *component) {
  free(component->pbx);
  free(component);
}

void ready_destroy(ready_t *ready) {
  if (!ready)
    return;
  for (ready_component_t *c = ready->head, *next; c; c = next) {
    next = c->next;
    ready_component_free(c);
  }
  free(ready);
}

ready_component_t *ready_add(ready_t *ready, const char *pbx, ready_kind_t kind, ready_probe_cb *probe,
                             void *opaque) {
  ready_component_t *component = calloc(1, sizeof(*component));
  if (!component)
    return NULL;
  if (pbx && !(component->pbx = strdup(pbx))) {
    free(component);
    return NULL;
  }
  component->kind = kind;
  component->probe = probe;
  component->opaque = opaque;
  snprintf(component->told, sizeof(component->told), "starting");
  ready_component_t **tail = &ready->head;
  while (*tail)
    tail = &(*tail)->next;
  *tail = component;
  return component;
}

void ready_set(ready_component_t *component, int ok, const char *fmt, ...) {
  if (!component)
    return;
  component->ok = ok;
  component->told[0] = '\0';
  if (!ok && fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(component->told, sizeof(component->told), fmt, ap);
    va_end(ap);
  }
}

void ready_remove(ready_t *ready, ready_component_t *component) {
  for (ready_component_t **p = &ready->head; component && *p; p = &(*p)->next) {
    if (*p == component) {
      *p = component->next;
      ready_component_free(component);
      return;
    }
  }
}

void ready_stop(ready_t *ready, const char *why) {
  for (ready_component_t *c = ready->head, *next; c; c = next) {
    next = c->next;
    ready_component_free(c);
  }
  ready->head = NULL;
  ready_set(ready_add(ready, NULL, READY_BRIDGE, NULL, NULL), 0, "%s", why);
}

void ready_remove_pbx(ready_t *ready, const char *pbx) {
  ready_component_t **p = &ready->head;
  while (*p) {
    ready_component_t *c = *p;
    if (c->pbx && pbx && strcmp(c->pbx, pbx) == 0) {
      *p = c->next;
      ready_component_free(c);
    } else {
      p = &c->next;
    }
  }
}

/* One component's answer. */
static int ready_ask(const ready_component_t *c, char *why, size_t why_size) {
  why[0] = '\0';
  if (!c->probe) {
    if (!c->ok)
      snprintf(why, why_size, "%s", c->told);
    return c->ok;
  }
  int ok = c->probe(c->opaque, why, why_size) ? 1 : 0;
  if (!ok && !why[0])
    snprintf(why, why_size, "not ready");
  return ok;
}

/* Visit the process's components, then the PBXs' (each PBX's in table order, the PBXs as added). */
static void ready_visit_all(ready_t *ready, ready_visit_cb *visit, void *opaque, int *all_ok) {
  char why[READY_WHY_MAX];
  *all_ok = 1;
  /* the process's first, in table order */
  for (int kind = 0; kind < READY__COUNT; kind++) {
    for (const ready_component_t *c = ready->head; c; c = c->next) {
      if (c->pbx || (int)c->kind != kind)
        continue;
      int ok = ready_ask(c, why, sizeof(why));
      *all_ok &= ok;
      if (visit)
        visit(opaque, &(ready_answer_t){NULL, c->kind, ready_kind_names[c->kind], ok, why});
    }
  }
  /* then each PBX, at its first component's place, its components in table order */
  for (const ready_component_t *first = ready->head; first; first = first->next) {
    if (!first->pbx)
      continue;
    int seen = 0;
    for (const ready_component_t *c = ready->head; c != first && !seen; c = c->next)
      seen = c->pbx && strcmp(c->pbx, first->pbx) == 0;
    if (seen)
      continue;
    for (int kind = 0; kind < READY__COUNT; kind++) {
      for (const ready_component_t *c = first; c; c = c->next) {
        if (!c->pbx || (int)c->kind != kind || strcmp(c->pbx, first->pbx) != 0)
          continue;
        int ok = ready_ask(c, why, sizeof(why));
        *all_ok &= ok;
        if (visit)
          visit(opaque, &(ready_answer_t){c->pbx, c->kind, ready_kind_names[c->kind], ok, why});
      }
    }
  }
}

int ready_evaluate(ready_t *ready, ready_visit_cb *visit, void *opaque) {
  int all_ok;
  ready_visit_all(ready, visit, opaque, &all_ok);
  return all_ok;
}

/* The components not ready, as "hq/pbx_link (not connected to the PBX), ...". */
typedef struct ready_list {
  char text[1024];
  size_t len;
} ready_list_t;

static void ready_list_add(void *opaque, const ready_answer_t *answer) {
  ready_list_t *list = opaque;
  size_t room = sizeof(list->text) - list->len;
  if (answer->ok || room <= 1)
    return;
  int n = snprintf(list->text + list->len, room, "%s%s%s%s (%s)", list->len ? ", " : "", answer->pbx ? answer->pbx : "",
                   answer->pbx ? "/" : "", answer->component, answer->why);
  list->len += n < 0 ? 0 : (size_t)n >= room ? room - 1 : (size_t)n;
}

void ready_watch(ready_t *ready) {
  ready_list_t list;
  memset(&list, 0, sizeof(list));
  int ok = ready_evaluate(ready, ready_list_add, &list);
  int64_t now = bclock_mono_ms();
  if (ready->state == -1 && ok) {
    BLOG_I(MAIN, NULL, "ready %.1f s after start", (double)(now - ready->start_ms) / 1000.0);
  } else if (ready->state == 1 && !ok) {
    BLOG_W(MAIN, NULL, "not ready: %s", list.text);
  } else if (ready->state == 0 && ok) {
    BLOG_I(MAIN, NULL, "ready again after %.1f s not ready", (double)(now - ready->since_ms) / 1000.0);
  } else {
    return;
  }
  ready->state = ok;
  ready->since_ms = now;
}
