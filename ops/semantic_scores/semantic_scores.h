// Semantic segmentation scores from mask classification (MaskFormer's semantic inference), fused
// with the resizing of the mask logits so that the (Q, H, W) full-resolution intermediate is never
// materialised.
//
//   mask_logits  (Q, h, w)  mask logits of one image at the network's output resolution
//   class_prob   (Q, K)     P(class | query), "no object" already dropped
//   output       (K, H, W)  out[c] = sum_q class_prob[q, c] * sigmoid(resized(mask_logits[q]))
//
// "resized" is what the Python path does with F.interpolate(mode="bilinear",
// align_corners=False): the logits are upsampled to padded_size, cropped to image_size (the top
// left corner) and resized to output_size (the identity when output_size == image_size). Both
// resizes are separable and linear, so each output row (column) is a weighted sum of at most
// four rows (columns) of mask_logits; the weights are computed once per axis.
#pragma once

#include <ATen/ATen.h>

namespace mask2former {

// Output rows and columns read at most this many rows and columns of mask_logits.
constexpr int kSemanticTaps = 4;

// The arguments of a kernel once checked: contiguous logits (Q, h, w), the class probabilities
// transposed (K, Q), per output row / column its taps on the logits' device (index (H or W, 4)
// int64 rows / columns of mask_logits, weight (H or W, 4) in the logits' dtype, 0 for unused
// taps), the output (K, H, W) (zeros when there are no queries, to be filled otherwise) and
// the number of output rows per tile.
struct SemanticScoresInputs {
  at::Tensor logits, class_prob_t, row_index, row_weight, col_index, col_weight, out;
  int64_t tile_rows;
};

// What every kernel entry point runs first: checks the arguments (ValueError / TypeError naming
// the argument), computes the taps, allocates the output and sizes tiles of at most
// max_tile_elements values (Q x rows x W).
SemanticScoresInputs prepare_semantic_scores_inputs(const at::Tensor& mask_logits,
                                                    const at::Tensor& class_prob,
                                                    at::IntArrayRef padded_size,
                                                    at::IntArrayRef image_size,
                                                    at::IntArrayRef output_size,
                                                    int64_t max_tile_elements);

}  // namespace mask2former
