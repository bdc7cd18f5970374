#include "text/lazy_grammar.h"

namespace edgerun {

LazyGrammar::LazyGrammar(std::shared_ptr<const TokenGrammar> grammar, std::string trigger, std::vector<int32_t> end_tokens)
    : grammar_(std::move(grammar)), trigger_(std::move(trigger)), end_tokens_(std::move(end_tokens)) {}

void LazyGrammar::mask_logits(float* logits, int64_t n) {
  if (active_) active_->mask_logits(logits, n);
}

void LazyGrammar::accept(int32_t token) {
  if (active_) {
    active_->accept(token);
    if (active_->is_complete()) active_.reset();  // the call is written: free text again
    return;
  }
  if (token < 0 || token >= grammar_->vocab().vocab_size()) return;  // an end token
  tail_ += grammar_->vocab().token_bytes(token);
  if (tail_.size() >= trigger_.size() && tail_.compare(tail_.size() - trigger_.size(), trigger_.size(), trigger_) == 0) {
    active_.emplace(grammar_, end_tokens_);
    tail_.clear();
    return;
  }
  if (tail_.size() > trigger_.size()) tail_.erase(0, tail_.size() - trigger_.size());
}

}  // namespace edgerun
