/* BERT encoder (all-MiniLM-L6-v2 shape) over zw.* kernels. */
#ifndef MINILM_BERT_H
#define MINILM_BERT_H

#include <stdint.h>

#define BERT_LAYERS 6
#define BERT_HIDDEN 384
#define BERT_HEADS 12
#define BERT_HEAD_DIM 32
#define BERT_FFN 1536
#define BERT_VOCAB 30522
#define BERT_MAX_POS 512
#define BERT_TYPES 2
#define BERT_LN_EPS 1e-12f
#define BERT_MAX_TOKENS 256 /* per sequence, [CLS] and [SEP] included */

/* Weight slots. The host learns each slot's safetensors name and shape from
 * the guest (the weights() export, from bert_weight_name/bert_weight_shape),
 * so this order is defined here only. Torch Linear weights are [out, in],
 * which is zw_matmul's B layout, so they are used in place. */
enum {
  W_WORD_EMB, W_POS_EMB, W_TYPE_EMB, W_EMB_LN_G, W_EMB_LN_B,
  W_GLOBAL_COUNT
};
enum {
  L_Q_W, L_Q_B, L_K_W, L_K_B, L_V_W, L_V_B, L_ATTN_OUT_W, L_ATTN_OUT_B, L_ATTN_LN_G, L_ATTN_LN_B,
  L_FFN_IN_W, L_FFN_IN_B, L_FFN_OUT_W, L_FFN_OUT_B, L_FFN_LN_G, L_FFN_LN_B,
  L_COUNT
};
#define W_COUNT (W_GLOBAL_COUNT + BERT_LAYERS * L_COUNT)

/* Element count slot expects, or 0 for a bad slot. */
int32_t bert_weight_numel(int32_t slot);

/* Shape of a slot: rows x cols, cols 0 for vectors. 0 or -1 for a bad slot. */
int32_t bert_weight_shape(int32_t slot, int32_t *rows, int32_t *cols);

/* The slot's tensor name in the model's safetensors file, written to buf
 * (NUL-terminated). 0, or -1 for a bad slot or a too small buffer. */
int32_t bert_weight_name(int32_t slot, char *buf, int32_t cap);

/* Bind slot to f32 data at p (nbytes must equal 4 * numel). 0 or negative error. */
int32_t bert_set_weight(int32_t slot, const float *p, int32_t nbytes);

/* 1 when every slot is bound. */
int32_t bert_ready(void);

/* Hint the runtime that the weights are read-mostly and belong on the device. */
void bert_place_weights(void);

/* Encode n sequences packed back to back (ids: sum(lens) tokens, each
 * 1 <= lens[i] <= BERT_MAX_TOKENS) and write their mean-pooled, L2-normalized
 * embeddings to out[n, BERT_HIDDEN]. Returns 0 or a negative error. */
int32_t bert_embed(const int32_t *ids, const int32_t *lens, int32_t n, float *out);

#endif
