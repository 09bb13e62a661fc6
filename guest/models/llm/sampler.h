/* Token sampling in the guest: greedy, or temperature + top-p (nucleus) with
 * a seeded generator whose state lives in the session (so snapshots replay). */
#ifndef LLM_SAMPLER_H
#define LLM_SAMPLER_H

#include <stdint.h>

/* Next value of the splitmix64 generator at *state. */
uint64_t sampler_next_u64(uint64_t *state);

/* temperature <= 0: argmax (lowest id on ties). Else softmax(logits / T),
 * keep the most probable tokens whose mass first reaches top_p (top_p >= 1:
 * all), and draw one with *rng. Returns -1 when out of memory. */
int32_t sampler_pick(const float *logits, int32_t n, float temperature, float top_p, uint64_t *rng);

#endif
