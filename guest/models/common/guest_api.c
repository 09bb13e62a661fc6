/* Error and fact exports shared by the model guests (see guest_api.h). */
#include "guest_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static char g_error[GUEST_ERROR_CAP];

int32_t guest_fail(int32_t code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_error, sizeof g_error, fmt, ap);
  va_end(ap);
  return code < 0 ? code : -1;
}

char *guest_error_buffer(void) { return g_error; }

GUEST_EXPORT("last_error") const char *last_error(void) { return g_error; }

/* Big enough for every fact of both models; a fact that does not fit is
 * dropped whole (the host then reports it missing by name). */
#define FACTS_CAP 2048
struct guest_facts {
  char text[FACTS_CAP];
  size_t len;
};

void guest_fact(guest_facts *out, const char *name, int32_t value) {
  size_t room = sizeof out->text - out->len;
  int n = snprintf(out->text + out->len, room, "%s=%d\n", name, (int)value);
  if (n > 0 && (size_t)n < room) out->len += (size_t)n;
  else out->text[out->len] = '\0';
}

GUEST_EXPORT("info") const char *info(void) {
  static guest_facts facts;
  facts.len = 0;
  facts.text[0] = '\0';
  guest_describe(&facts);
  return facts.text;
}

GUEST_EXPORT("alloc") void *guest_alloc(int32_t size) {
  if (size <= 0) {
    guest_fail(-1, "alloc: size %d is not positive", (int)size);
    return NULL;
  }
  void *p = aligned_alloc(64, ((size_t)size + 63) & ~(size_t)63);
  if (!p) guest_fail(-1, "alloc: out of memory for %d bytes", (int)size);
  return p;
}

GUEST_EXPORT("free") void guest_free(void *p) { free(p); }
