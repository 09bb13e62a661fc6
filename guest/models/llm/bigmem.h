/* Page-granular allocation of the guest's big regions (the file image, session
 * state) straight from memory.grow.
 *
 * Why not malloc: the libc malloc of the zig toolchain rounds large requests up
 * to a power of two and never splits or merges freed blocks, so a 98 MB file
 * would take 128 MB and a freed 94 MB session could not serve a 50 MB one.
 * Here a region takes whole 64 KiB pages, 64 KiB aligned (so the host may mmap
 * a file over it), and freed regions are merged and reused first-fit. */
#ifndef LLM_BIGMEM_H
#define LLM_BIGMEM_H

#include <stddef.h>

#define BIG_PAGE 65536u

void *big_alloc(size_t bytes); /* NULL when memory cannot grow (or too many regions) */
void big_free(void *p);        /* p from big_alloc, or NULL */

#endif
