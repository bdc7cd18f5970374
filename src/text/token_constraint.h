// A restriction on which token may come next, applied by the generation loop before sampling
// (see GenerateOptions::constraint; GrammarConstraint is the one the engine has).
#pragma once
#include <cstdint>

namespace edgerun {

class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Sets the logits of the tokens that may not come next to -infinity; at least one stays
  // unless finished().
  virtual void mask_logits(float* logits, int64_t n) = 0;
  // Records the token chosen after mask_logits. Throws Error for a token that was not allowed.
  virtual void accept(int32_t token) = 0;
  // Nothing may follow: the text is complete and cannot be extended.
  virtual bool finished() const = 0;
};

}  // namespace edgerun
