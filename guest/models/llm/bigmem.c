/* Page-granular region allocator: see bigmem.h. A handful of regions live at a
 * time (one file, a few sessions), so plain arrays suffice. */
#include "bigmem.h"

#include <stdint.h>
#include <string.h>

#define BIG_MAX 256

typedef struct {
  uint32_t page, pages;
} extent;

static extent live[BIG_MAX], spare[BIG_MAX];
static int n_live, n_spare;

static void take_spare(int i, uint32_t pages) {
  if (spare[i].pages == pages) {
    spare[i] = spare[--n_spare];
  } else {
    spare[i].page += pages;
    spare[i].pages -= pages;
  }
}

void *big_alloc(size_t bytes) {
  if (bytes == 0 || bytes > (size_t)UINT32_MAX - BIG_PAGE || n_live == BIG_MAX) return NULL;
  uint32_t pages = (uint32_t)((bytes + BIG_PAGE - 1) / BIG_PAGE);
  uint32_t page = UINT32_MAX;
  for (int i = 0; i < n_spare; i++)
    if (spare[i].pages >= pages) {
      page = spare[i].page;
      take_spare(i, pages);
      break;
    }
  if (page == UINT32_MAX) {
    size_t old = __builtin_wasm_memory_grow(0, pages);
    if (old == (size_t)-1) return NULL;
    page = (uint32_t)old;
  }
  live[n_live++] = (extent){page, pages};
  return (void *)((uintptr_t)page * BIG_PAGE);
}

void big_free(void *p) {
  if (!p) return;
  uint32_t page = (uint32_t)((uintptr_t)p / BIG_PAGE);
  int i = 0;
  while (i < n_live && live[i].page != page) i++;
  if (i == n_live) return; /* not ours: ignore rather than corrupt the lists */
  extent e = live[i];
  live[i] = live[--n_live];
  /* merge with spare neighbours, then keep */
  for (int j = 0; j < n_spare;) {
    if (spare[j].page + spare[j].pages == e.page) {
      e.page = spare[j].page;
      e.pages += spare[j].pages;
      spare[j] = spare[--n_spare];
    } else if (e.page + e.pages == spare[j].page) {
      e.pages += spare[j].pages;
      spare[j] = spare[--n_spare];
    } else {
      j++;
    }
  }
  if (n_spare < BIG_MAX) spare[n_spare++] = e; /* else leak the pages: never with BIG_MAX regions */
}
