/* The protocol every bundled model guest follows with its host
 * (python/zerowasm/models/_guest.py reads it; nothing there copies a number
 * or an order from a guest's sources):
 *
 *   errors  An export that fails returns a negative int32 (0 for a pointer
 *           result) and leaves its reason in last_error(): a NUL-terminated
 *           UTF-8 message ("" before any failure). The instance stays usable.
 *   facts   info() returns NUL-terminated "name=value\n" lines (int32 values):
 *           shapes, limits, token ids. The host looks facts up by name.
 *   memory  alloc(n) / free(p): 64-byte aligned heap blocks the host fills
 *           with inputs or reads outputs from.
 *
 * Every input the host hands over is untrusted: exports validate lengths,
 * ranges and pointers before touching memory and fail with a message. */
#ifndef GUEST_API_H
#define GUEST_API_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_EXPORT(name) __attribute__((export_name(name)))
#define GUEST_ERROR_CAP 512 /* bytes of last_error(), NUL included */

/* Format the message of the current failure and return code (negative). */
int32_t guest_fail(int32_t code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The GUEST_ERROR_CAP-byte message buffer, for helpers that format into a
 * (char *err, size_t errlen) pair themselves. */
char *guest_error_buffer(void);

/* Text of info(): each guest defines guest_describe() and calls
 * guest_fact() once per fact it knows now. */
typedef struct guest_facts guest_facts;
void guest_fact(guest_facts *out, const char *name, int32_t value);
void guest_describe(guest_facts *out);

#endif
