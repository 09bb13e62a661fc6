/* Sampler: see sampler.h. */
#include "sampler.h"

#include <math.h>
#include <stdlib.h>

uint64_t sampler_next_u64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double uniform01(uint64_t *rng) { return (double)(sampler_next_u64(rng) >> 11) * (1.0 / 9007199254740992.0); }

typedef struct {
  float p;
  int32_t id;
} cand;

static int by_prob_desc(const void *a, const void *b) {
  const cand *x = a, *y = b;
  if (x->p != y->p) return x->p < y->p ? 1 : -1;
  return x->id < y->id ? -1 : x->id > y->id;
}

/* The first index of the largest value (NaNs never win, unless logits[0] is one).
 * Eight independent running maxima: a single one is a chain of load, compare and
 * select per element, which took ~1 ms of each 15 ms decode step over Gemma's
 * 262,144 logits; eight chains overlap. */
static int32_t argmax(const float *logits, int32_t n) {
  enum { LANES = 8 };
  float lane_max[LANES];
  int32_t lane_at[LANES];
  for (int l = 0; l < LANES; l++) {
    lane_max[l] = -INFINITY;
    lane_at[l] = -1; /* nothing above -inf seen */
  }
  int32_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int l = 0; l < LANES; l++)
      if (logits[i + l] > lane_max[l]) {
        lane_max[l] = logits[i + l];
        lane_at[l] = i + l;
      }
  int32_t best = 0;
  float best_value = logits[0];
  for (int l = 0; l < LANES; l++)
    if (lane_at[l] >= 0 && (lane_max[l] > best_value || (lane_max[l] == best_value && lane_at[l] < best))) {
      best_value = lane_max[l];
      best = lane_at[l];
    }
  for (; i < n; i++)
    if (logits[i] > best_value) {
      best_value = logits[i];
      best = i;
    }
  return best;
}

int32_t sampler_pick(const float *logits, int32_t n, float temperature, float top_p, uint64_t *rng) {
  int32_t best = argmax(logits, n);
  if (!(temperature > 0.0f) || !isfinite(logits[best])) return best;
  float *p = malloc((size_t)n * sizeof(float));
  if (!p) return -1;
  const float inv_t = 1.0f / temperature, top = logits[best];
  double total = 0.0;
  for (int32_t i = 0; i < n; i++) {
    p[i] = expf((logits[i] - top) * inv_t); /* p[best] = 1: no overflow */
    total += p[i];
  }
  int32_t pick = best;
  if (!(top_p < 1.0f)) {
    double r = uniform01(rng) * total, acc = 0.0;
    pick = n - 1;
    for (int32_t i = 0; i < n; i++) {
      acc += p[i];
      if (r < acc) { pick = i; break; }
    }
    free(p);
    return pick;
  }
  /* The nucleus is the top of the sorted distribution. Lower a threshold until
   * the tokens above it hold top_p of the mass; then only those need sorting. */
  const double want = (double)(top_p > 0.0f ? top_p : 0.0f) * total;
  cand *c = malloc((size_t)n * sizeof(cand));
  if (!c) { free(p); return -1; }
  int32_t m = 0;
  for (float thr = 0.5f;; thr *= 1.0f / 16.0f) {
    double mass = 0.0;
    m = 0;
    for (int32_t i = 0; i < n; i++)
      if (p[i] >= thr || thr < 1e-30f) {
        c[m].p = p[i];
        c[m].id = i;
        mass += p[i];
        m++;
      }
    if (mass >= want || thr < 1e-30f) break;
  }
  qsort(c, (size_t)m, sizeof(cand), by_prob_desc);
  double kept = 0.0;
  int32_t k = 0;
  while (k < m) {
    kept += c[k].p;
    k++;
    if (kept >= want) break;
  }
  double r = uniform01(rng) * kept, acc = 0.0;
  pick = c[k - 1].id;
  for (int32_t i = 0; i < k; i++) {
    acc += c[i].p;
    if (r < acc) { pick = c[i].id; break; }
  }
  free(c);
  free(p);
  return pick;
}
